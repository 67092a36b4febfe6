// SPDX-License-Identifier: Apache-2.0
#pragma once
// The verification walk of the selected step, op by op: the tree (the node
// being computed, the state it is computed from, the states already dropped)
// beside the row of live state slots and the FIFO / stack of parent states,
// with the counters (live, peak live, peak state bytes, loads, redundant
// steps). The walk repeats per layer and tile (layer outermost, as the
// engine runs it); "compare orders" shows fifo, dfs and paths side by side
// on the same tree, synchronised by the fraction of the walk done.
#include <QWidget>

#include <array>
#include <memory>
#include <unordered_map>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QScrollArea;
class QSlider;
class QSpinBox;
class QStackedWidget;
class QTableView;
class QTimer;
class QBoxLayout;

namespace sm::ui {

struct RunRecord;
struct FifoWalk;
struct FifoAgreement;
class FifoOpsModel;
class WalkPane;

class FifoView : public QWidget {
  Q_OBJECT

 public:
  explicit FifoView(QWidget* parent = nullptr);
  ~FifoView() override;

  void setRun(std::shared_ptr<const RunRecord> run);
  int currentStep() const { return step_; }

  // Position in the walk: op (frame) of the shown order, tile and layer (0-based).
  int currentOp() const { return op_; }
  int opCount() const;
  int currentTile() const { return tile_; }
  int tileCount() const;
  int currentLayer() const { return layer_; }
  int layerCount() const;
  QString orderName() const;          // "fifo" / "dfs" / "paths"
  void setOrder(const QString& name);  // programmatic, like the combo
  bool compareOrders() const { return compare_; }
  void setCompareOrders(bool on);
  bool isPlaying() const;
  QString agreementText() const;      // the recorded-vs-schedule line
  bool showingPlaceholder() const;
  // Centre of a node in pane 0..2 (fifo, dfs, paths in compare mode; pane 0
  // alone otherwise), in this widget's coordinates, as last painted; null if
  // not shown.
  QPoint nodeCenter(int pane, int node) const;
  QString placeholderText() const;

 public slots:
  void setStep(int step);  // programmatic: no stepSelected
  void selectNode(int step, int node);
  void setOp(int op);
  void stepForward();      // one op; past the last op of a tile, the next tile / layer
  void stepBack();
  void togglePlay();

 signals:
  void stepSelected(int step);
  void nodeSelected(int step, int node);

 protected:
  void keyPressEvent(QKeyEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;

 private:
  const FifoWalk* walk(int order);  // built on first use
  void rebuildTokens();
  void refresh();           // controls and panes from the position
  void relayout();
  void updateAgreement();
  void userStep(int step);
  void userNode(int pane, int node);
  void advance(int delta);  // ops, crossing tiles and layers

  std::shared_ptr<const RunRecord> run_;
  int step_ = -1;
  int order_ = 0;           // shown order: 0 fifo, 1 dfs, 2 paths (the combo's, the panes')
  int run_order_ = 0;       // the order the run was verified in
  int op_ = 0, tile_ = 0, layer_ = 0;
  int selected_node_ = -1;
  bool compare_ = false;
  bool updating_ = false;   // programmatic control updates: ignore their signals
  std::array<std::unique_ptr<FifoWalk>, 3> walks_;
  std::vector<QString> tokens_;
  std::vector<double> unit_x_;  // tree layout, x in [0, 1] per node
  std::unordered_map<int, std::unique_ptr<FifoAgreement>> agreement_;  // per step

  QStackedWidget* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QSpinBox* step_spin_ = nullptr;
  QComboBox* order_combo_ = nullptr;
  QCheckBox* compare_box_ = nullptr;
  QLabel* agreement_label_ = nullptr;
  QPushButton* first_button_ = nullptr;
  QPushButton* back_button_ = nullptr;
  QPushButton* play_button_ = nullptr;
  QPushButton* forward_button_ = nullptr;
  QSlider* slider_ = nullptr;
  QLabel* op_label_ = nullptr;
  QComboBox* speed_combo_ = nullptr;
  QSpinBox* layer_spin_ = nullptr;
  QSpinBox* tile_spin_ = nullptr;
  QLabel* loop_label_ = nullptr;
  QScrollArea* scroll_ = nullptr;
  QBoxLayout* body_layout_ = nullptr;   // panes | table
  QBoxLayout* panes_layout_ = nullptr;
  std::array<WalkPane*, 3> panes_{};
  QTableView* table_ = nullptr;
  FifoOpsModel* model_ = nullptr;
  QTimer* timer_ = nullptr;
};

}  // namespace sm::ui
