// SPDX-License-Identifier: Apache-2.0
#pragma once
// A row of label + field pairs (the sampling and speculative settings) that
// wraps into rows of `per_row` pairs, aligned in columns, when the width is
// short: a narrow window or a wide dock never squeezes a field below its
// minimum ("Ma" for "Max tokens", a spin box reduced to its arrows).
#include <QWidget>

#include <utility>
#include <vector>

class QGridLayout;
class QLabel;

namespace sm::ui {

class PairRow : public QWidget {
  Q_OBJECT

 public:
  explicit PairRow(int per_row, QWidget* parent = nullptr);

  // Adds `label` (with a mnemonic for `field`) and `field`; returns the label.
  QLabel* addPair(const QString& label, QWidget* field);
  bool wrapped() const { return wrapped_; }

  QSize sizeHint() const override;         // one row
  QSize minimumSizeHint() const override;  // wrapped

 protected:
  void resizeEvent(QResizeEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  int rowWidth(bool wrapped, bool hint) const;
  void arrange(bool wrapped);
  void fitToWidth();

  QGridLayout* grid_ = nullptr;
  std::vector<std::pair<QLabel*, QWidget*>> pairs_;
  int per_row_ = 3;
  bool wrapped_ = false;
};

}  // namespace sm::ui
