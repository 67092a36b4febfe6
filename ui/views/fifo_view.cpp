// SPDX-License-Identifier: Apache-2.0
#include "ui/views/fifo_view.h"

#include <QBoxLayout>
#include <QCheckBox>
#include <QComboBox>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLocale>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QSlider>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStyle>
#include <QTableView>
#include <QTimer>

#include <algorithm>
#include <cmath>

#include "core/spec/token_tree.h"
#include "ui/models/fifo_walk.h"
#include "ui/views/palette.h"

namespace sm::ui {

namespace {

constexpr VerifyOrder kOrders[3] = {VerifyOrder::Fifo, VerifyOrder::Dfs, VerifyOrder::Paths};

int display_index(VerifyOrder o) {
  for (int i = 0; i < 3; ++i)
    if (kOrders[i] == o) return i;
  return 0;
}

QString bytes_text(int64_t b) {
  if (b <= 0) return QStringLiteral("n/a");
  return QLocale().formattedDataSize(b, 1, QLocale::DataSizeIecFormat);
}

// Leaves on consecutive columns in depth-first order, parents centred over
// their children: subtrees never overlap, whatever the shape.
std::vector<double> unit_layout(const TreeShape& t) {
  const int n = t.size();
  std::vector<double> x(n, 0.0);
  if (n == 0) return x;
  int leaves = 0;
  std::function<void(int)> place = [&](int v) {
    if (t.is_leaf(v)) {
      x[v] = leaves++ + 0.5;
      return;
    }
    const int c0 = t.first_child[v], k = t.n_children[v];
    for (int i = 0; i < k; ++i) place(c0 + i);
    x[v] = (x[c0] + x[c0 + k - 1]) / 2;
  };
  place(0);
  for (double& v : x) v /= std::max(1, leaves);
  return x;
}

QColor text_on(const QColor& fill) { return fill.lightness() > 140 ? QColor(Qt::black) : QColor(Qt::white); }

}  // namespace

// One order's walk at one frame: counters, the op in words, the tree, the slots.
class WalkPane : public QWidget {
 public:
  explicit WalkPane(QWidget* parent) : QWidget(parent) {
    setMinimumSize(260, 380);  // room for a readable tree; the view scrolls below that
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  }

  void show_walk(const FifoWalk* w, int frame, bool primary, const std::vector<QString>* tokens,
                 const std::vector<double>* unit_x, const TreeShape* shape, int selected) {
    walk_ = w;
    frame_ = frame;
    primary_ = primary;
    tokens_ = tokens;
    unit_x_ = unit_x;
    shape_ = shape;
    selected_ = selected;
    update();
  }
  int frame() const { return frame_; }
  // Where node v was last painted; null point before the first paint.
  QPointF node_center(int v) const { return v >= 0 && size_t(v) < pos_.size() ? pos_[v] : QPointF(); }
  std::function<void(int)> on_node_clicked;

  QSize sizeHint() const override { return {420, 420}; }

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override {
    for (size_t v = 0; v < pos_.size(); ++v)
      if (QLineF(pos_[v], e->position()).length() <= std::max(radius_, 6.0) + 2) {
        if (on_node_clicked) on_node_clicked(int(v));
        return;
      }
    QWidget::mousePressEvent(e);
  }

 private:
  QString token(int v) const {
    return tokens_ && v >= 0 && size_t(v) < tokens_->size() ? (*tokens_)[v] : QString();
  }
  void paint_tree(QPainter& p, const QRectF& r, const FifoFrame& f);
  void paint_slots(QPainter& p, const QRectF& r, const FifoFrame& f, int box_w, int box_h, int per_row);

  const FifoWalk* walk_ = nullptr;
  int frame_ = 0;
  bool primary_ = true;
  const std::vector<QString>* tokens_ = nullptr;
  const std::vector<double>* unit_x_ = nullptr;
  const TreeShape* shape_ = nullptr;
  int selected_ = -1;
  std::vector<QPointF> pos_;  // last painted node centres, for clicks
  double radius_ = 0;
};

void WalkPane::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  p.fillRect(rect(), colors::base());
  p.setPen(primary_ ? colors::highlight() : colors::muted());
  p.drawRect(QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5));
  pos_.clear();
  if (!walk_ || walk_->frames.empty() || !shape_) return;
  const FifoFrame& f = walk_->frames[std::clamp(frame_, 0, walk_->size() - 1)];
  const FifoWalkSummary& m = walk_->summary;
  const double margin = 8;
  const double w = width() - 2 * margin;
  double y = margin;

  // Title and counters.
  QFont bold = font();
  bold.setBold(true);
  p.setFont(bold);
  p.setPen(colors::text());
  const QString title = QStringLiteral("%1  \u00b7  op %2 / %3")
                            .arg(verify_order_label(walk_->order))
                            .arg(frame_ + 1)
                            .arg(m.ops);
  p.drawText(QRectF(margin, y, w, 18), Qt::AlignLeft | Qt::AlignVCenter, title);
  y += 20;
  p.setFont(font());
  const QString counters =
      QStringLiteral("live now %1  \u00b7  peak live %2  \u00b7  peak state %3  \u00b7  loads %4  \u00b7  "
                     "steps %5  \u00b7  redundant %6")
          .arg(f.live)
          .arg(m.peak_live)
          .arg(bytes_text(m.peak_state_bytes))
          .arg(m.loads)
          .arg(m.steps)
          .arg(m.redundant);
  QRectF cr = p.boundingRect(QRectF(margin, y, w, 1000), Qt::TextWordWrap, counters);
  p.drawText(QRectF(margin, y, w, cr.height()), Qt::TextWordWrap, counters);
  y += cr.height() + 2;
  // The op in words.
  std::function<QString(int32_t)> tok = [this](int32_t v) { return token(v); };
  const QString what = describe_frame(f, walk_->order, tok);
  p.setPen(colors::text());
  QRectF wr = p.boundingRect(QRectF(margin, y, w, 1000), Qt::TextWordWrap, what);
  p.drawText(QRectF(margin, y, w, wr.height()), Qt::TextWordWrap, what);
  y += wr.height() + 4;

  // Slot boxes: as wide as fit, wrapped onto rows.
  const int n_slots = int(f.held.size());
  const int gap = 4;
  int box_w = std::clamp(int(w / std::max(1, n_slots)) - gap, 46, 76);
  const int per_row = std::max(1, int((w + gap) / (box_w + gap)));
  const int rows = (n_slots + per_row - 1) / per_row;
  const int box_h = 40;
  // Legend: the shape cue of each state, not only its colour.
  // Non-breaking spaces keep each cue with its meaning when the line wraps.
  const QString legend = QStringLiteral(
      "bold\u00a0ring:\u00a0computing \u00b7 dashed\u00a0ring:\u00a0its\u00a0source\u00a0state \u00b7 "
      "filled:\u00a0live \u00b7 grey:\u00a0freed \u00b7 hollow:\u00a0not\u00a0yet\u00a0computed \u00b7 "
      "C:\u00a0committed\u00a0state \u00b7 Q/S\u00a0n:\u00a0place\u00a0in\u00a0FIFO\u00a0/\u00a0stack");
  const double legend_h =
      p.boundingRect(QRectF(0, 0, w, 1000), Qt::TextWordWrap | Qt::AlignTop, legend).height() + 2;
  const double queue_h = QFontMetricsF(font()).height() + 4;
  const double slots_h = rows * (box_h + gap) + queue_h;
  const double tree_h = height() - y - slots_h - legend_h - margin;
  if (tree_h > 60) {
    paint_tree(p, QRectF(margin, y, w, tree_h), f);
    y += tree_h;
  }
  paint_slots(p, QRectF(margin, y, w, slots_h), f, box_w, box_h, per_row);
  y += slots_h;

  p.setPen(colors::muted());
  p.drawText(QRectF(margin, y, w, legend_h), Qt::TextWordWrap | Qt::AlignTop, legend);
}

void WalkPane::paint_tree(QPainter& p, const QRectF& r, const FifoFrame& f) {
  const TreeShape& t = *shape_;
  const int n = t.size();
  const int depth = t.max_depth();
  const int leaves = std::max(1, t.leaf_count());
  QFont small = font();
  small.setPointSizeF(std::max(6.0, font().pointSizeF() * 0.85));
  const QFontMetricsF sfm(small);
  const double top = r.top() + 22;  // room for the committed state above the root
  const double col_w = r.width() / leaves;
  const double avail = r.height() - 22 - sfm.height() - 6;  // the leaves' labels below the last row
  radius_ = std::clamp(std::min(avail / (depth + 0.5), col_w) * 0.3, 3.0, 13.0);
  const double row_h = (avail - 2 * radius_) / std::max(1, depth);
  pos_.resize(n);
  for (int v = 0; v < n; ++v)
    pos_[v] = QPointF(r.left() + (*unit_x_)[v] * r.width(), top + radius_ + t.depth[v] * row_h);
  // Committed state, the root's source.
  const QRectF cbox(pos_[0].x() - 11, r.top() + 1, 22, 16);
  const bool committed_live =
      std::find(f.held.begin(), f.held.end(), kStateCommitted) != f.held.end();
  p.setPen(QPen(colors::muted(), 1));
  p.drawLine(QPointF(cbox.center().x(), cbox.bottom()), pos_[0]);
  if (f.source_state == kStateCommitted) p.setPen(QPen(colors::bonus(), 2.5, Qt::DashLine));
  p.setBrush(committed_live ? colors::draft() : colors::base());
  p.drawRect(cbox);
  p.setPen(committed_live ? text_on(colors::draft()) : colors::text());
  p.drawText(cbox, Qt::AlignCenter, QStringLiteral("C"));

  p.setPen(QPen(colors::muted(), 1));
  for (int v = 1; v < n; ++v) p.drawLine(pos_[t.parent[v]], pos_[v]);

  QFont tiny = small;
  tiny.setPointSizeF(std::max(5.5, small.pointSizeF() * 0.85));
  const bool ids = radius_ >= 6.5;
  const bool labels = row_h > 2 * radius_ + sfm.height() + 2 && col_w > 24;
  for (int v = 0; v < n; ++v) {
    const bool computing = f.computed == v;
    const bool source = (f.op.kind == ScanOp::Step || f.op.kind == ScanOp::Copy) && f.source_state == v;
    const bool live = std::find(f.held.begin(), f.held.end(), v) != f.held.end();
    const int fs = walk_->first_step[v];
    const bool done = fs >= 0 && fs <= frame_;
    QColor fill = colors::base();
    QPen pen(colors::muted(), 1.2);
    if (computing) {
      fill = colors::target();
      pen = QPen(colors::text(), 3);
    } else if (live) {
      fill = colors::draft();
      pen = QPen(colors::text(), 1.2);
    } else if (done) {
      fill = colors::muted();
      fill.setAlphaF(0.45);
      pen = QPen(colors::muted(), 1);
    }
    p.setPen(pen);
    p.setBrush(fill);
    p.drawEllipse(pos_[v], radius_, radius_);
    if (source) {
      p.setBrush(Qt::NoBrush);
      p.setPen(QPen(colors::bonus(), 2.5, Qt::DashLine));
      p.drawEllipse(pos_[v], radius_ + 3.5, radius_ + 3.5);
    }
    if (v == selected_) {
      p.setBrush(Qt::NoBrush);
      p.setPen(QPen(colors::highlight(), 2));
      p.drawEllipse(pos_[v], radius_ + 6, radius_ + 6);
    }
    if (ids) {
      p.setFont(radius_ >= 9 ? small : tiny);
      p.setPen(computing || live ? text_on(fill) : colors::text());
      p.drawText(QRectF(pos_[v].x() - radius_, pos_[v].y() - radius_, 2 * radius_, 2 * radius_),
                 Qt::AlignCenter, QString::number(v));
    }
    if (labels && v > 0) {
      p.setFont(small);
      p.setPen(done || computing ? colors::text() : colors::muted());
      const QString s = sfm.elidedText(token(v), Qt::ElideRight, col_w - 2);
      const double tw = sfm.horizontalAdvance(s) + 2;
      const QRectF tr(pos_[v].x() - tw / 2, pos_[v].y() + radius_ + 1, tw, sfm.height());
      p.fillRect(tr, colors::base());  // over the edges to the children
      p.drawText(tr, Qt::AlignCenter, s);
    }
  }
  p.setFont(font());
}

void WalkPane::paint_slots(QPainter& p, const QRectF& r, const FifoFrame& f, int box_w, int box_h,
                           int per_row) {
  const int gap = 4;
  QFont small = font();
  small.setPointSizeF(std::max(6.0, font().pointSizeF() * 0.85));
  const QFontMetricsF sfm(small);
  const bool stack = walk_->order == VerifyOrder::Dfs;
  for (int s = 0; s < int(f.held.size()); ++s) {
    const QRectF b(r.left() + (s % per_row) * (box_w + gap), r.top() + (s / per_row) * (box_h + gap), box_w,
                   box_h);
    const int32_t held = f.held[s];
    const bool touched = f.op.slot == s && f.op.kind != ScanOp::Free;  // the op wrote or queued it
    const bool computing = f.op.kind == ScanOp::Step && f.op.slot == s;
    QColor fill = held == kSlotFree ? colors::base() : (computing ? colors::target() : colors::draft());
    QPen pen = held == kSlotFree ? QPen(colors::muted(), 1, Qt::DashLine) : QPen(colors::text(), 1);
    if (touched) pen = QPen(colors::highlight(), 3);
    if (f.op.kind == ScanOp::Free && f.op.slot == s) pen = QPen(colors::rejected(), 3, Qt::DashLine);
    p.setPen(pen);
    p.setBrush(fill);
    p.drawRoundedRect(b, 4, 4);
    const QColor ink = held == kSlotFree ? colors::muted() : text_on(fill);
    p.setPen(ink);
    p.setFont(small);
    p.drawText(b.adjusted(3, 1, -3, 0), Qt::AlignLeft | Qt::AlignTop, QStringLiteral("s%1").arg(s));
    const auto q = std::find(f.queue.begin(), f.queue.end(), s);
    if (q != f.queue.end())
      p.drawText(b.adjusted(3, 1, -3, 0), Qt::AlignRight | Qt::AlignTop,
                 QStringLiteral("%1%2").arg(stack ? QStringLiteral("S") : QStringLiteral("Q")).arg(q - f.queue.begin() + 1));
    QString main, sub;
    if (held == kSlotFree) {
      main = f.op.kind == ScanOp::Free && f.op.slot == s ? QStringLiteral("freed") : QStringLiteral("free");
    } else if (held == kStateCommitted) {
      main = QStringLiteral("C");
      if (sfm.horizontalAdvance(QStringLiteral("committed")) <= b.width() - 4) sub = QStringLiteral("committed");
    } else {
      main = QStringLiteral("n%1").arg(held);
      sub = token(held);
    }
    QFont bold = font();
    bold.setBold(true);
    p.setFont(bold);
    p.drawText(QRectF(b.left(), b.top() + sfm.height() - 2, b.width(), QFontMetricsF(bold).height()),
               Qt::AlignHCenter | Qt::AlignTop, main);
    if (!sub.isEmpty()) {
      p.setFont(small);
      p.drawText(QRectF(b.left() + 2, b.bottom() - sfm.height() - 1, b.width() - 4, sfm.height()),
                 Qt::AlignHCenter, sfm.elidedText(sub, Qt::ElideRight, b.width() - 4));
    }
  }
  // The queue / stack in order.
  const int rows = (int(f.held.size()) + per_row - 1) / per_row;
  QString line;
  if (walk_->order == VerifyOrder::Paths) {
    line = QStringLiteral("paths: one state per root-to-leaf path, no queue");
  } else {
    QStringList items;
    for (int32_t s : f.queue) items << QStringLiteral("n%1").arg(f.held[s]);
    line = (stack ? QStringLiteral("stack (bottom \u2192 top): ") : QStringLiteral("FIFO (front \u2192 back): ")) +
           (items.isEmpty() ? QStringLiteral("empty") : items.join(QStringLiteral(", ")));
  }
  p.setFont(font());
  p.setPen(colors::text());
  const QFontMetricsF fm(font());
  p.drawText(QRectF(r.left(), r.top() + rows * (box_h + gap), r.width(), fm.height() + 2),
             Qt::AlignLeft | Qt::AlignVCenter, fm.elidedText(line, Qt::ElideRight, r.width()));
}

// ---- FifoView ----

FifoView::FifoView(QWidget* parent) : QWidget(parent) {
  setFocusPolicy(Qt::StrongFocus);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  stack_ = new QStackedWidget(this);
  outer->addWidget(stack_);

  placeholder_ = new QLabel(stack_);
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setWordWrap(true);
  placeholder_->setMargin(16);
  stack_->addWidget(placeholder_);

  auto* page = new QWidget(stack_);
  stack_->addWidget(page);
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(6, 6, 6, 6);
  v->setSpacing(4);

  // Row 1: what is shown.
  auto* row1 = new QHBoxLayout;
  step_spin_ = new QSpinBox(page);
  step_spin_->setPrefix(QStringLiteral("step "));
  step_spin_->setToolTip(QStringLiteral("Speculative step whose tree is walked"));
  order_combo_ = new QComboBox(page);
  for (VerifyOrder o : kOrders) order_combo_->addItem(verify_order_label(o));
  order_combo_->setToolTip(QStringLiteral("Verification order (default: the run's)"));
  compare_box_ = new QCheckBox(QStringLiteral("Compare orders"), page);
  compare_box_->setToolTip(QStringLiteral("fifo, dfs and paths side by side, synchronised by walk fraction"));
  speed_combo_ = new QComboBox(page);
  for (int ops : {1, 2, 5, 10, 30}) speed_combo_->addItem(QStringLiteral("%1 op/s").arg(ops), ops);
  speed_combo_->setCurrentIndex(2);
  speed_combo_->setToolTip(QStringLiteral("Animation speed"));
  row1->addWidget(step_spin_);
  row1->addWidget(order_combo_);
  row1->addWidget(compare_box_);
  row1->addStretch(1);
  row1->addWidget(speed_combo_);
  v->addLayout(row1);

  // Row 2: the op.
  auto* row2 = new QHBoxLayout;
  auto button = [&](QStyle::StandardPixmap icon, const QString& tip, const char* name) {
    auto* b = new QPushButton(style()->standardIcon(icon), QString(), page);
    b->setToolTip(tip);
    b->setObjectName(QLatin1String(name));
    b->setFocusPolicy(Qt::TabFocus);
    row2->addWidget(b);
    return b;
  };
  first_button_ = button(QStyle::SP_MediaSkipBackward, QStringLiteral("First op of the walk (Home)"), "firstButton");
  back_button_ = button(QStyle::SP_MediaSeekBackward, QStringLiteral("One op back (Left)"), "backButton");
  play_button_ = button(QStyle::SP_MediaPlay, QStringLiteral("Play / pause (Space)"), "playButton");
  forward_button_ = button(QStyle::SP_MediaSeekForward, QStringLiteral("One op forward (Right)"), "forwardButton");
  slider_ = new QSlider(Qt::Horizontal, page);
  slider_->setMinimumWidth(60);
  slider_->setToolTip(QStringLiteral("Ops of this tile's walk"));
  row2->addWidget(slider_, 1);
  op_label_ = new QLabel(page);
  op_label_->setMinimumWidth(op_label_->fontMetrics().horizontalAdvance(QStringLiteral("op 8888 / 8888")));
  row2->addWidget(op_label_);
  v->addLayout(row2);

  // Row 3: the outer loops and the recorded-walk check.
  auto* row3 = new QHBoxLayout;
  layer_spin_ = new QSpinBox(page);
  layer_spin_->setPrefix(QStringLiteral("layer "));
  layer_spin_->setToolTip(QStringLiteral("The walk repeats per layer (outer loop)"));
  tile_spin_ = new QSpinBox(page);
  tile_spin_->setPrefix(QStringLiteral("tile "));
  tile_spin_->setToolTip(QStringLiteral("... and per tile of state units (PageUp / PageDown)"));
  loop_label_ = new QLabel(page);
  loop_label_->setWordWrap(true);  // its text must not set the dock's (and the window's) minimum width
  row3->addWidget(layer_spin_);
  row3->addWidget(tile_spin_);
  row3->addWidget(loop_label_, 1);
  v->addLayout(row3);
  agreement_label_ = new QLabel(page);
  agreement_label_->setWordWrap(true);
  agreement_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(agreement_label_);

  // Panes and table, scrolled when small.
  scroll_ = new QScrollArea(page);
  scroll_->setWidgetResizable(true);
  scroll_->setFrameShape(QFrame::NoFrame);
  auto* body = new QWidget(scroll_);
  body_layout_ = new QBoxLayout(QBoxLayout::LeftToRight, body);
  body_layout_->setContentsMargins(0, 0, 0, 0);
  panes_layout_ = new QBoxLayout(QBoxLayout::LeftToRight);
  panes_layout_->setSpacing(6);
  for (int i = 0; i < 3; ++i) {
    panes_[i] = new WalkPane(body);
    panes_[i]->setObjectName(QStringLiteral("walkPane"));
    panes_[i]->on_node_clicked = [this, i](int node) { userNode(i, node); };
    panes_layout_->addWidget(panes_[i], 1);
  }
  body_layout_->addLayout(panes_layout_, 3);
  model_ = new FifoOpsModel(this);
  table_ = new QTableView(body);
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->setWordWrap(false);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
  {
    // Fixed widths from the font: sizing to contents would visit every row.
    QHeaderView* h = table_->horizontalHeader();
    const QFontMetrics fm = table_->fontMetrics();
    h->setStretchLastSection(false);
    h->resizeSection(FifoOpsModel::Index, fm.horizontalAdvance(QStringLiteral("88888")) + 8);
    h->resizeSection(FifoOpsModel::Op, fm.horizontalAdvance(QStringLiteral("step (again)")) + 12);
    h->resizeSection(FifoOpsModel::Slot, fm.horizontalAdvance(QStringLiteral("slot")) + 16);
    h->resizeSection(FifoOpsModel::From, fm.horizontalAdvance(QStringLiteral("s88 \u00b7 committed")) + 12);
    h->resizeSection(FifoOpsModel::Live, fm.horizontalAdvance(QStringLiteral("live")) + 16);
    h->setSectionResizeMode(FifoOpsModel::Node, QHeaderView::Stretch);
  }
  table_->setMinimumSize(220, 160);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  body_layout_->addWidget(table_, 2);
  scroll_->setWidget(body);
  v->addWidget(scroll_, 1);

  timer_ = new QTimer(this);
  connect(timer_, &QTimer::timeout, this, [this] {
    const int before_op = op_, before_tile = tile_, before_layer = layer_;
    advance(1);
    if (op_ == before_op && tile_ == before_tile && layer_ == before_layer) togglePlay();  // the end
  });
  connect(speed_combo_, &QComboBox::currentIndexChanged, this,
          [this] { timer_->setInterval(1000 / std::max(1, speed_combo_->currentData().toInt())); });
  timer_->setInterval(1000 / 5);

  connect(step_spin_, &QSpinBox::valueChanged, this, [this](int s) {
    if (!updating_) userStep(s);
  });
  connect(order_combo_, &QComboBox::currentIndexChanged, this, [this](int i) {
    if (!updating_) setOrder(verify_order_label(kOrders[std::clamp(i, 0, 2)]));
  });
  connect(compare_box_, &QCheckBox::toggled, this, [this](bool on) {
    if (!updating_) setCompareOrders(on);
  });
  connect(first_button_, &QPushButton::clicked, this, [this] { setOp(0); });
  connect(back_button_, &QPushButton::clicked, this, &FifoView::stepBack);
  connect(forward_button_, &QPushButton::clicked, this, &FifoView::stepForward);
  connect(play_button_, &QPushButton::clicked, this, &FifoView::togglePlay);
  connect(slider_, &QSlider::valueChanged, this, [this](int v) {
    if (!updating_) setOp(v);
  });
  connect(layer_spin_, &QSpinBox::valueChanged, this, [this](int l) {
    if (updating_) return;
    layer_ = std::clamp(l - 1, 0, std::max(0, layerCount() - 1));
    refresh();
  });
  connect(tile_spin_, &QSpinBox::valueChanged, this, [this](int t) {
    if (updating_) return;
    tile_ = std::clamp(t - 1, 0, tileCount() - 1);
    refresh();
  });
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& cur) {
            if (!updating_ && cur.isValid()) setOp(cur.row());
          });
  relayout();
  setRun(nullptr);
}

FifoView::~FifoView() = default;

const FifoWalk* FifoView::walk(int order) {
  if (!run_ || !run_->shape || order < 0 || order > 2) return nullptr;
  if (!walks_[order]) {
    const FifoTiling tiling = FifoTiling::from(run_->target_geometry, run_->settings.tile);
    walks_[order] = std::make_unique<FifoWalk>(FifoWalk::build(*run_->shape, kOrders[order], tiling));
  }
  return walks_[order].get();
}

int FifoView::opCount() const { return walks_[order_] ? walks_[order_]->size() : 0; }

int FifoView::tileCount() const { return walks_[order_] ? std::max(1, walks_[order_]->tiling.tiles) : 1; }

int FifoView::layerCount() const { return walks_[order_] ? walks_[order_]->tiling.layers : 0; }

QString FifoView::orderName() const { return verify_order_label(kOrders[order_]); }

QPoint FifoView::nodeCenter(int pane, int node) const {
  if (pane < 0 || pane > 2 || !panes_[pane]->isVisible()) return {};
  const QPointF c = panes_[pane]->node_center(node);
  return c.isNull() ? QPoint() : panes_[pane]->mapTo(this, c.toPoint());
}

bool FifoView::isPlaying() const { return timer_->isActive(); }

QString FifoView::agreementText() const { return agreement_label_->text(); }

bool FifoView::showingPlaceholder() const { return stack_->currentWidget() == placeholder_; }

QString FifoView::placeholderText() const { return placeholder_->text(); }

void FifoView::setRun(std::shared_ptr<const RunRecord> run) {
  timer_->stop();
  run_ = std::move(run);
  for (auto& w : walks_) w.reset();
  agreement_.clear();
  tokens_.clear();
  unit_x_.clear();
  model_->setWalk(nullptr);
  step_ = -1;
  op_ = tile_ = layer_ = 0;
  selected_node_ = -1;
  if (!run_) {
    placeholder_->setText(QStringLiteral("No speculative run yet: generate with a tree, or File > Open Trace"));
    stack_->setCurrentWidget(placeholder_);
    return;
  }
  if (!run_->settings.speculative() || run_->steps.empty() || !run_->shape) {
    placeholder_->setText(QStringLiteral(
        "The verification walk needs a speculative run: this run is target-only (generate with a draft "
        "model and a tree)."));
    stack_->setCurrentWidget(placeholder_);
    return;
  }
  run_order_ = display_index(verify_order_or_fifo(run_->settings.verify));
  order_ = run_order_;
  unit_x_ = unit_layout(*run_->shape);
  walk(order_);  // one schedule of the shape: cheap, and the controls need its size
  updating_ = true;
  step_spin_->setRange(0, int(run_->steps.size()) - 1);
  updating_ = false;
  step_ = 0;
  stack_->setCurrentWidget(stack_->widget(1));
  rebuildTokens();
  model_->setWalk(walk(order_), tokens_);
  refresh();
}

void FifoView::rebuildTokens() {
  tokens_.clear();
  if (!run_ || step_ < 0 || step_ >= int(run_->steps.size())) return;
  const StepRecord& s = run_->steps[step_];
  tokens_.reserve(s.nodes.size());
  for (const NodeRecord& n : s.nodes) tokens_.push_back(run_->token_text(n.token));
}

void FifoView::setStep(int step) {
  if (!run_ || run_->steps.empty()) return;
  step = std::clamp(step, 0, int(run_->steps.size()) - 1);
  if (step == step_) return;
  step_ = step;
  selected_node_ = -1;
  rebuildTokens();
  model_->setWalk(walk(order_), tokens_);
  refresh();
}

void FifoView::userStep(int step) {
  const int before = step_;
  setStep(step);
  if (step_ != before) emit stepSelected(step_);
}

void FifoView::selectNode(int step, int node) {
  setStep(step);
  const FifoWalk* w = walk(order_);
  if (!w || node < 0 || node >= int(w->first_step.size())) return;
  selected_node_ = node;
  op_ = std::max(0, w->first_step[node]);
  refresh();
}

void FifoView::userNode(int pane, int node) {
  const int order = compare_ ? pane : order_;
  const FifoWalk* w = walk(order);
  const FifoWalk* primary = walk(order_);
  if (!w || !primary || node < 0 || node >= int(w->first_step.size())) return;
  selected_node_ = node;
  const int f = std::max(0, w->first_step[node]);
  // Another pane's frame maps back to the shown order by walk fraction.
  op_ = order == order_ ? f : primary->frame_at_fraction(double(f + 1) / w->size());
  refresh();
  emit nodeSelected(step_, node);
}

void FifoView::setOrder(const QString& name) {
  const int i = display_index(verify_order_or_fifo(name));
  if (i == order_ || !run_ || !run_->shape) return;
  // Keep the position by walk fraction.
  const FifoWalk* old = walk(order_);
  const double frac = old && old->size() ? double(op_ + 1) / old->size() : 0.0;
  order_ = i;
  const FifoWalk* w = walk(order_);
  op_ = std::max(0, w->frame_at_fraction(frac));
  model_->setWalk(w, tokens_);
  refresh();
}

void FifoView::setCompareOrders(bool on) {
  compare_ = on;
  for (int i = 0; i < 3; ++i) walk(i);
  relayout();
  refresh();
}

void FifoView::setOp(int op) {
  const int n = opCount();
  if (n == 0) return;
  op_ = std::clamp(op, 0, n - 1);
  refresh();
}

void FifoView::advance(int delta) {
  const int n = opCount();
  if (n == 0) return;
  const int tiles = tileCount(), layers = std::max(1, layerCount());
  // One index over (layer, tile, op), layer outermost as the engine runs it.
  const int64_t total = int64_t(layers) * tiles * n;
  int64_t g = (int64_t(layer_) * tiles + tile_) * n + op_ + delta;
  g = std::clamp<int64_t>(g, 0, total - 1);
  op_ = int(g % n);
  tile_ = int((g / n) % tiles);
  layer_ = int(g / (int64_t(n) * tiles));
  refresh();
}

void FifoView::stepForward() { advance(1); }
void FifoView::stepBack() { advance(-1); }

void FifoView::togglePlay() {
  if (timer_->isActive()) {
    timer_->stop();
  } else if (opCount() > 0) {
    timer_->start();
  }
  play_button_->setIcon(style()->standardIcon(timer_->isActive() ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
}

void FifoView::keyPressEvent(QKeyEvent* e) {
  const int n = opCount();
  switch (e->key()) {
    case Qt::Key_Right: stepForward(); break;
    case Qt::Key_Left: stepBack(); break;
    case Qt::Key_Space: togglePlay(); break;
    case Qt::Key_Home: setOp(0); break;
    case Qt::Key_End: setOp(n - 1); break;
    case Qt::Key_PageDown: advance(n); break;
    case Qt::Key_PageUp: advance(-n); break;
    default: QWidget::keyPressEvent(e); return;
  }
  e->accept();
}

void FifoView::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  relayout();
}

void FifoView::relayout() {
  const bool wide = width() >= 900;
  panes_layout_->setDirection(compare_ && wide ? QBoxLayout::LeftToRight : QBoxLayout::TopToBottom);
  body_layout_->setDirection(wide ? QBoxLayout::LeftToRight : QBoxLayout::TopToBottom);
  table_->setVisible(!compare_);
  panes_[1]->setVisible(compare_);
  panes_[2]->setVisible(compare_);
  // Now, not at the next event loop pass: a grab right after must not see stale geometry.
  body_layout_->activate();
}

void FifoView::updateAgreement() {
  if (!run_ || step_ < 0) return;
  auto it = agreement_.find(step_);
  if (it == agreement_.end()) {
    const VerifySchedule s = VerifySchedule::build(*run_->shape, kOrders[run_order_]);
    it = agreement_
             .emplace(step_, std::make_unique<FifoAgreement>(check_recorded_walk(run_->steps[step_].fifo, s)))
             .first;
  }
  const FifoAgreement& a = *it->second;
  const QString order = verify_order_label(kOrders[run_order_]);
  QString mark, colour;
  switch (a.status) {
    case FifoAgreement::Matches:
      mark = QStringLiteral("\u2714");
      colour = colors::target().name();
      break;
    case FifoAgreement::Differs:
      mark = QStringLiteral("\u2716");
      colour = colors::rejected().name();
      break;
    case FifoAgreement::NoEvents:
      mark = QStringLiteral("\u2013");
      colour = colors::muted().name();
      break;
  }
  agreement_label_->setText(QStringLiteral("<span style='color:%1'>%2</span> recorded %3 walk: %4")
                                .arg(colour, mark, order, a.message.toHtmlEscaped()));
}

void FifoView::refresh() {
  if (!run_ || !run_->shape || step_ < 0) return;
  const FifoWalk* w = walk(order_);
  const int n = w->size();
  op_ = std::clamp(op_, 0, std::max(0, n - 1));
  const int tiles = tileCount(), layers = layerCount();
  tile_ = std::clamp(tile_, 0, tiles - 1);
  layer_ = std::clamp(layer_, 0, std::max(0, layers - 1));
  updating_ = true;
  step_spin_->setValue(step_);
  step_spin_->setSuffix(QStringLiteral(" / %1").arg(run_->steps.size() - 1));
  order_combo_->setCurrentIndex(order_);
  compare_box_->setChecked(compare_);
  slider_->setRange(0, std::max(0, n - 1));
  slider_->setValue(op_);
  op_label_->setText(QStringLiteral("op %1 / %2").arg(op_ + 1).arg(n));
  layer_spin_->setRange(1, std::max(1, layers));
  layer_spin_->setSuffix(layers > 0 ? QStringLiteral(" / %1").arg(layers) : QStringLiteral(" / ?"));
  layer_spin_->setValue(layer_ + 1);
  layer_spin_->setEnabled(layers > 1);
  tile_spin_->setRange(1, tiles);
  tile_spin_->setSuffix(QStringLiteral(" / %1").arg(tiles));
  tile_spin_->setValue(tile_ + 1);
  tile_spin_->setEnabled(tiles > 1);
  const FifoTiling& t = w->tiling;
  loop_label_->setText(t.units > 0 ? QStringLiteral("%1 units per tile of %2 \u00b7 tile state %3")
                                         .arg(t.tile_units)
                                         .arg(t.units)
                                         .arg(bytes_text(t.tile_bytes))
                                   : QStringLiteral("state geometry not recorded"));
  if (!compare_ && model_->walk() == w && op_ < model_->rowCount()) {
    table_->selectRow(op_);
    table_->scrollTo(model_->index(op_, 0));
  }
  updating_ = false;
  back_button_->setEnabled(op_ > 0 || tile_ > 0 || layer_ > 0);
  forward_button_->setEnabled(op_ < n - 1 || tile_ < tiles - 1 || layer_ < layers - 1);

  const TreeShape* shape = run_->shape.get();
  if (!compare_) {
    panes_[0]->show_walk(w, op_, true, &tokens_, &unit_x_, shape, selected_node_);
  } else {
    const double frac = n ? double(op_ + 1) / n : 0.0;
    for (int i = 0; i < 3; ++i) {
      const FifoWalk* wi = walk(i);
      const int f = i == order_ ? op_ : wi->frame_at_fraction(frac);
      panes_[i]->show_walk(wi, f, i == order_, &tokens_, &unit_x_, shape, selected_node_);
    }
  }
  updateAgreement();
}

}  // namespace sm::ui
