// SPDX-License-Identifier: Apache-2.0
#pragma once
// Two runs side by side: their settings and figures in one table (with the
// ratio B / A), and their charts overlaid — tokens generated over decode time
// and tokens per speculative step.
#include <QDialog>

#include <memory>

class QCustomPlot;
class QTableWidget;

namespace sm::ui {

struct RunRecord;

class CompareView : public QDialog {
  Q_OBJECT

 public:
  explicit CompareView(QWidget* parent = nullptr);

  // baseline_*: target-only tok/s each run is compared against (0: none).
  void setRuns(std::shared_ptr<const RunRecord> a, const QString& name_a, double baseline_a,
               std::shared_ptr<const RunRecord> b, const QString& name_b, double baseline_b);

  QTableWidget* table() const { return table_; }
  QCustomPlot* progressPlot() const { return progress_; }
  QCustomPlot* stepPlot() const { return steps_; }

 private:
  QTableWidget* table_ = nullptr;
  QCustomPlot* progress_ = nullptr;
  QCustomPlot* steps_ = nullptr;
};

}  // namespace sm::ui
