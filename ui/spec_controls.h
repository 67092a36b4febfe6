// SPDX-License-Identifier: Apache-2.0
#pragma once
// Speculative decoding settings: a checkable group (unchecked = plain
// target-only decoding) with the draft model directory (+ Open…), the tree
// shape (editable combo with presets), verify order, backtracking policy,
// hybrid budget and tile. Read and written as a SpecRequest; the values are
// parsed by core when a run starts, so bad ones surface as sm::Error text.
#include <QGroupBox>

#include "ui/generation_types.h"

class QComboBox;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace sm::ui {

class SpecControls : public QGroupBox {
  Q_OBJECT

 public:
  explicit SpecControls(QWidget* parent = nullptr);

  static QStringList treePresets();

  bool speculative() const { return isChecked(); }
  void setSpeculative(bool on) { setChecked(on); }
  QString draftPath() const;
  void setDraftPath(const QString& path);
  QString tree() const;
  void setTree(const QString& shape);

  SpecRequest request() const;
  void setRequest(const SpecRequest& r);

 public slots:
  void browseDraft();

 private:
  void updateBudgetEnabled();

  QLineEdit* draft_ = nullptr;
  QPushButton* open_ = nullptr;
  QComboBox* tree_ = nullptr;
  QComboBox* verify_ = nullptr;
  QComboBox* backtrack_ = nullptr;
  QSpinBox* budget_ = nullptr;
  QSpinBox* tile_ = nullptr;
};

}  // namespace sm::ui
