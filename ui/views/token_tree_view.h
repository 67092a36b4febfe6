// SPDX-License-Identifier: Apache-2.0
#pragma once
// One speculative step's drafted tree: every node with its token and both
// models' probabilities, the accepted path filled, rejected nodes crossed,
// unexamined ones greyed and the bonus token as a dashed box under the last
// accepted node. A slider, buttons and keys step through the run; clicking a
// node shows why acceptance decided as it did.
//
// Steps are indices into RunRecord::steps. Keys: Left / Right one step,
// PageUp / PageDown ten, Home / End the first / last; Ctrl+wheel zooms,
// Ctrl+0 (or "Fit") fits the tree to the width again.
#include <QFont>
#include <QWidget>

#include <memory>

#include "ui/models/run_record.h"
#include "ui/models/tree_layout.h"

class QLabel;
class QScrollArea;
class QSlider;
class QStackedWidget;
class QTextBrowser;
class QToolButton;

namespace sm::ui {

class TokenTreeCanvas;

class TokenTreeView : public QWidget {
  Q_OBJECT

 public:
  explicit TokenTreeView(QWidget* parent = nullptr);
  ~TokenTreeView() override;

  // Null: no run (placeholder). Cheap: only the shown step is laid out.
  void setRun(std::shared_ptr<const RunRecord> run);
  int currentStep() const { return step_; }
  // Selected node of the current step, TreeLayout::kBonus, or -1.
  int selectedNode() const { return selected_; }

  // What the header and the details pane say (tests, the lead's checks).
  QString headerText() const;
  QString detailsText() const;
  QString placeholderText() const;
  bool showingPlaceholder() const;

  // The drawing surface and where a node's box centre is on it (for tests and
  // scripted clicks); an invalid point if the node is not drawn.
  QWidget* canvas() const;
  QPoint nodeCenter(int node) const;
  double zoom() const;

 public slots:
  // Programmatic: never emits.
  void setStep(int step);
  void selectNode(int step, int node);

 signals:
  void stepSelected(int step);
  void nodeSelected(int step, int node);

 protected:
  void keyPressEvent(QKeyEvent* event) override;
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  friend class TokenTreeCanvas;

  int stepCount() const;
  const StepRecord* currentRecord() const;
  // Shows `step` (clamped); true if it changed.
  bool showStep(int step);
  void userStep(int step);  // from a key, button or the slider: emits
  void userClickedBox(int node);
  void relayout();          // the cached layout and texts of the shown step
  void relabel();           // the box fonts and elided labels for the zoom
  int32_t nodeToken(int node) const;
  void updateHeader();
  void updateDetails();
  void updateCanvasSize();
  void zoomBy(double factor, QPoint anchor_in_viewport);
  void fitToWidth();
  QString nodeTooltip(int node) const;
  QString tokenLabel(int32_t id) const;

  std::shared_ptr<const RunRecord> run_;
  int step_ = 0;
  int selected_ = -1;
  bool fit_ = true;        // zoom follows the viewport width until the user zooms
  double zoom_ = 1.0;

  // Cached per shown step; painting reads only these.
  TreeLayout layout_;
  std::vector<QString> token_texts_;  // per box: the token's display text
  std::vector<QString> prob_texts_;   // per box: "q .62 · p .41", "root", "bonus"
  std::vector<QString> labels_, probs_;  // the same elided for the zoom
  QFont box_token_font_, box_prob_font_;
  int text_lines_ = 2;                // lines the boxes hold at this zoom
  std::vector<char> on_path_;     // per node

  QStackedWidget* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QLabel* header_ = nullptr;
  QToolButton* first_ = nullptr;
  QToolButton* prev_ = nullptr;
  QSlider* slider_ = nullptr;
  QToolButton* next_ = nullptr;
  QToolButton* last_ = nullptr;
  QToolButton* fit_button_ = nullptr;
  QScrollArea* scroll_ = nullptr;
  TokenTreeCanvas* canvas_ = nullptr;
  QTextBrowser* details_ = nullptr;
};

}  // namespace sm::ui
