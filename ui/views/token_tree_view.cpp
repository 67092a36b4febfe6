// SPDX-License-Identifier: Apache-2.0
#include "ui/views/token_tree_view.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QKeyEvent>
#include <QLabel>
#include <QPainter>
#include <QPainterPath>
#include <QScrollArea>
#include <QScrollBar>
#include <QSignalBlocker>
#include <QSlider>
#include <QSplitter>
#include <QStackedWidget>
#include <QStyle>
#include <QTextBrowser>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

#include "ui/views/palette.h"

namespace sm::ui {
namespace {

constexpr int kMargin = 14;         // around the tree on the canvas, unscaled pixels
constexpr double kMinFitZoom = 0.6; // below this the boxes hold too little: scroll instead
constexpr double kMaxFitZoom = 1.5;
constexpr double kMinTextScale = 0.7;  // box text shrinks with the zoom down to this
constexpr double kMinZoom = 0.2, kMaxZoom = 3.0;
constexpr double kHGap = 10, kVGap = 36;
constexpr int kPageSteps = 10;

// Box fonts at a text scale: text follows the zoom only within limits, so it
// stays legible when the boxes shrink (they then drop lines instead).
QFont token_font(const QFont& base, double scale = 1.0) {
  QFont f = base;
  f.setBold(true);
  f.setPointSizeF(base.pointSizeF() * scale);
  return f;
}

QFont prob_font(const QFont& base, double scale = 1.0) {
  QFont f = base;
  f.setPointSizeF(std::max(7.0, base.pointSizeF() * 0.88) * scale);
  return f;
}

// Box text: two decimals without the leading zero, so "q .62 · p .41" fits.
QString compact_prob(float v) {
  if (v >= 0.995f) return QStringLiteral("1");
  if (v <= 0.0f) return QStringLiteral("0");
  if (v < 0.01f) return QStringLiteral("<.01");
  return QString::number(v, 'f', 2).mid(1);
}

QString precise_prob(float v) { return QString::number(v, 'f', 4); }

QString verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Root: return QStringLiteral("root (the last emitted token)");
    case Verdict::Accepted: return QStringLiteral("accepted");
    case Verdict::Rejected: return QStringLiteral("rejected");
    case Verdict::NotExamined: return QStringLiteral("not examined");
  }
  return {};
}

QString ms(double us) { return QStringLiteral("%1 ms").arg(us / 1000.0, 0, 'f', 2); }

void paint_swatch(QPainter& p, const QRectF& r, Verdict v, bool bonus) {
  p.save();
  if (bonus) {
    QColor fill = colors::bonus();
    fill.setAlpha(90);
    p.setBrush(fill);
    p.setPen(QPen(colors::bonus().darker(120), 2, Qt::DashLine));
  } else if (v == Verdict::Accepted) {
    p.setBrush(colors::accepted());
    p.setPen(QPen(colors::accepted().darker(170), 3));
  } else if (v == Verdict::Rejected) {
    p.setBrush(colors::base());
    p.setPen(QPen(colors::rejected(), 2));
  } else if (v == Verdict::Root) {
    p.setBrush(colors::window());
    p.setPen(QPen(colors::text(), 2));
  } else {
    p.setBrush(colors::base());
    p.setPen(QPen(colors::muted(), 1));
  }
  p.drawRoundedRect(r, 5, 5);
  if (v == Verdict::Rejected && !bonus) {
    // The cross: the rejection cue that does not depend on colour.
    const double s = std::min(7.0, r.height() / 3);
    const QPointF c(r.right() - s - 3, r.top() + s + 3);
    p.setPen(QPen(colors::rejected(), 2, Qt::SolidLine, Qt::RoundCap));
    p.drawLine(c + QPointF(-s / 2, -s / 2), c + QPointF(s / 2, s / 2));
    p.drawLine(c + QPointF(-s / 2, s / 2), c + QPointF(s / 2, -s / 2));
  }
  p.restore();
}

}  // namespace

// The drawing surface inside the scroll area: paints the view's cached layout
// at the view's zoom and reports hover and clicks back to it.
class TokenTreeCanvas : public QWidget {
 public:
  explicit TokenTreeCanvas(TokenTreeView* view) : QWidget(nullptr), view_(view) {
    setMouseTracking(true);
    setFocusPolicy(Qt::ClickFocus);
    setFocusProxy(view);
  }

  QPointF toLayout(QPointF p) const { return (p - QPointF(kMargin, kMargin)) / view_->zoom_; }
  QPointF toCanvas(QPointF p) const { return p * view_->zoom_ + QPointF(kMargin, kMargin); }

 protected:
  void paintEvent(QPaintEvent*) override;
  bool event(QEvent* e) override {
    if (e->type() == QEvent::ToolTip) {
      auto* he = static_cast<QHelpEvent*>(e);
      const int hit = view_->layout_.hit(toLayout(he->pos()));
      if (hit == -1) {
        QToolTip::hideText();
        e->ignore();
      } else {
        QToolTip::showText(he->globalPos(), view_->nodeTooltip(hit), this);
      }
      return true;
    }
    return QWidget::event(e);
  }
  void mouseMoveEvent(QMouseEvent* e) override {
    const bool over = view_->layout_.hit(toLayout(e->position())) != -1;
    setCursor(over ? Qt::PointingHandCursor : Qt::ArrowCursor);
  }
  void mousePressEvent(QMouseEvent* e) override {
    if (e->button() != Qt::LeftButton) return QWidget::mousePressEvent(e);
    view_->setFocus(Qt::MouseFocusReason);
    view_->userClickedBox(view_->layout_.hit(toLayout(e->position())));
  }
  void wheelEvent(QWheelEvent* e) override {
    if (!(e->modifiers() & Qt::ControlModifier)) return e->ignore();  // the scroll area scrolls
    const double steps = e->angleDelta().y() / 120.0;
    if (steps != 0) {
      view_->zoomBy(std::pow(1.15, steps),
                    mapTo(view_->scroll_->viewport(), e->position().toPoint()));
    }
    e->accept();
  }

 private:
  void paintBox(QPainter& p, int index);
  QRectF toCanvas(const QRectF& r) const {
    return QRectF(toCanvas(r.topLeft()), r.size() * view_->zoom_);
  }

  TokenTreeView* view_;
};

void TokenTreeCanvas::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), colors::base());
  const TreeLayout& L = view_->layout_;
  if (L.empty()) return;
  p.setRenderHint(QPainter::Antialiasing);

  // Edges first, so boxes cover their ends. Drawn in canvas pixels (not a
  // scaled painter) so outlines and text keep their weight at any zoom.
  const auto& on_path = view_->on_path_;
  for (const auto& [a, b] : L.edges) {
    const QRectF ra = toCanvas(L.boxes[a].rect);
    const QRectF rb = toCanvas(L.boxes[b].rect);
    const QPointF from(ra.center().x(), ra.bottom());
    const QPointF to(rb.center().x(), rb.top());
    const double my = (from.y() + to.y()) / 2;
    QPainterPath path(from);
    path.cubicTo(QPointF(from.x(), my), QPointF(to.x(), my), to);
    QPen pen;
    if (b == L.bonus_index) {
      pen = QPen(colors::bonus().darker(120), 2.5, Qt::DashLine);
    } else if (on_path[b]) {
      pen = QPen(colors::accepted(), 3.5);
    } else {
      const Verdict v = view_->currentRecord()->nodes[b].verdict;
      pen = QPen(v == Verdict::Rejected ? colors::rejected() : colors::muted(),
                 v == Verdict::Rejected ? 1.5 : 1.0);
    }
    p.strokePath(path, pen);
  }

  for (int i = 0; i < int(L.boxes.size()); ++i) paintBox(p, i);
}

void TokenTreeCanvas::paintBox(QPainter& p, int index) {
  const TreeLayout& L = view_->layout_;
  const QRectF r = toCanvas(L.boxes[index].rect);
  const bool bonus = index == L.bonus_index;
  const Verdict v = bonus ? Verdict::Accepted : view_->currentRecord()->nodes[index].verdict;
  const int node = L.boxes[index].node;

  if (node == view_->selected_) {
    p.setPen(QPen(colors::highlight(), 2.5));
    p.setBrush(Qt::NoBrush);
    p.drawRoundedRect(r.adjusted(-5, -5, 5, 5), 8, 8);
  }
  paint_swatch(p, r, v, bonus);
  const int lines = view_->text_lines_;
  if (lines == 0) return;

  QColor fg = colors::text();
  if (!bonus && v == Verdict::Accepted) fg = Qt::white;
  if (!bonus && v == Verdict::NotExamined) fg = colors::muted();
  p.setPen(fg);
  const QRectF inner = r.adjusted(3, 2, -3, -2);
  p.setFont(view_->box_token_font_);
  if (lines == 1) {
    p.drawText(inner, Qt::AlignCenter, view_->labels_[index]);
    return;
  }
  QRectF top = inner, bottom = inner;
  top.setBottom(inner.center().y() + 1);
  bottom.setTop(inner.center().y() + 1);
  p.drawText(top, Qt::AlignHCenter | Qt::AlignBottom, view_->labels_[index]);
  QFont pf = view_->box_prob_font_;
  if (bonus || v == Verdict::Root) pf.setItalic(true);
  p.setFont(pf);
  p.drawText(bottom, Qt::AlignHCenter | Qt::AlignTop, view_->probs_[index]);
}

// The key to the box styles, above the tree.
class TreeLegend : public QWidget {
 public:
  using QWidget::QWidget;
  QSize sizeHint() const override { return {420, fontMetrics().height() + 8}; }
  QSize minimumSizeHint() const override { return {0, fontMetrics().height() + 8}; }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics fm = fontMetrics();
    const double h = fm.height() - 2;
    double x = 2;
    struct Item { Verdict v; bool bonus; const char* name; };
    const Item items[] = {{Verdict::Accepted, false, "accepted"},
                          {Verdict::Rejected, false, "rejected"},
                          {Verdict::NotExamined, false, "not examined"},
                          {Verdict::Accepted, true, "bonus"}};
    for (const Item& it : items) {
      const QString name = QString::fromLatin1(it.name);
      const double w = h * 1.8 + 6 + fm.horizontalAdvance(name);
      if (x + w > width()) break;  // narrow: the boxes carry text labels anyway
      paint_swatch(p, QRectF(x, (height() - h) / 2, h * 1.8, h), it.v, it.bonus);
      p.setPen(colors::text());
      p.drawText(QRectF(x + h * 1.8 + 6, 0, w, height()), Qt::AlignVCenter | Qt::AlignLeft, name);
      x += w + 16;
    }
  }
};

TokenTreeView::TokenTreeView(QWidget* parent) : QWidget(parent) {
  setFocusPolicy(Qt::StrongFocus);

  stack_ = new QStackedWidget(this);
  placeholder_ = new QLabel(stack_);
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setWordWrap(true);
  placeholder_->setMargin(16);
  QPalette pp = placeholder_->palette();
  pp.setColor(QPalette::WindowText, colors::muted());
  placeholder_->setPalette(pp);
  stack_->addWidget(placeholder_);

  auto* page = new QWidget(stack_);
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(4, 4, 4, 4);
  v->setSpacing(4);

  header_ = new QLabel(page);
  header_->setWordWrap(true);
  QFont hf = header_->font();
  hf.setBold(true);
  header_->setFont(hf);
  v->addWidget(header_);

  auto* nav = new QHBoxLayout;
  nav->setSpacing(2);
  // Arrows and text, not the style's media icons: those stay black on a dark theme.
  auto tool = [&](const QString& tip) {
    auto* b = new QToolButton(page);
    b->setToolTip(tip);
    b->setAutoRaise(true);
    b->setMinimumSize(26, 24);
    b->setFocusPolicy(Qt::NoFocus);
    return b;
  };
  first_ = tool(tr("First step (Home)"));
  first_->setText(tr("First"));
  prev_ = tool(tr("Previous step (Left; PageUp: 10 back)"));
  prev_->setArrowType(Qt::LeftArrow);
  next_ = tool(tr("Next step (Right; PageDown: 10 on)"));
  next_->setArrowType(Qt::RightArrow);
  last_ = tool(tr("Last step (End)"));
  last_->setText(tr("Last"));
  prev_->setAutoRepeat(true);
  next_->setAutoRepeat(true);
  slider_ = new QSlider(Qt::Horizontal, page);
  // The view owns the keys (PageUp goes back, unlike a slider's).
  slider_->setFocusPolicy(Qt::NoFocus);
  slider_->setPageStep(kPageSteps);
  fit_button_ = new QToolButton(page);
  fit_button_->setText(tr("Fit"));
  fit_button_->setToolTip(tr("Fit the tree to the width (Ctrl+0); Ctrl+wheel zooms"));
  fit_button_->setFocusPolicy(Qt::NoFocus);
  nav->addWidget(first_);
  nav->addWidget(prev_);
  nav->addWidget(slider_, 1);
  nav->addWidget(next_);
  nav->addWidget(last_);
  nav->addSpacing(6);
  nav->addWidget(fit_button_);
  v->addLayout(nav);

  v->addWidget(new TreeLegend(page));

  auto* split = new QSplitter(Qt::Vertical, page);
  split->setChildrenCollapsible(false);
  scroll_ = new QScrollArea(split);
  scroll_->setFocusPolicy(Qt::NoFocus);
  scroll_->setAlignment(Qt::AlignHCenter | Qt::AlignTop);
  scroll_->setBackgroundRole(QPalette::Base);
  scroll_->setWidgetResizable(false);
  canvas_ = new TokenTreeCanvas(this);
  scroll_->setWidget(canvas_);
  scroll_->installEventFilter(this);  // refit on resize
  scroll_->setMinimumHeight(80);
  details_ = new QTextBrowser(split);
  details_->setFocusPolicy(Qt::NoFocus);
  details_->setOpenLinks(false);
  details_->setMinimumHeight(48);
  split->addWidget(scroll_);
  split->addWidget(details_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  // Scaled to the real height on first show: the tree gets most of it.
  split->setSizes({560, 160});
  v->addWidget(split, 1);
  stack_->addWidget(page);

  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(stack_);

  connect(first_, &QToolButton::clicked, this, [this] { userStep(0); });
  connect(prev_, &QToolButton::clicked, this, [this] { userStep(step_ - 1); });
  connect(next_, &QToolButton::clicked, this, [this] { userStep(step_ + 1); });
  connect(last_, &QToolButton::clicked, this, [this] { userStep(stepCount() - 1); });
  connect(slider_, &QSlider::valueChanged, this, [this](int s) { userStep(s); });
  connect(fit_button_, &QToolButton::clicked, this, [this] { fitToWidth(); });

  setRun(nullptr);
}

TokenTreeView::~TokenTreeView() = default;

int TokenTreeView::stepCount() const { return run_ ? int(run_->steps.size()) : 0; }

const StepRecord* TokenTreeView::currentRecord() const {
  return step_ >= 0 && step_ < stepCount() ? &run_->steps[step_] : nullptr;
}

QString TokenTreeView::placeholderText() const { return placeholder_->text(); }
bool TokenTreeView::showingPlaceholder() const { return stack_->currentIndex() == 0; }
QWidget* TokenTreeView::canvas() const { return canvas_; }
double TokenTreeView::zoom() const { return zoom_; }
QString TokenTreeView::headerText() const { return header_->text(); }
QString TokenTreeView::detailsText() const { return details_->toPlainText(); }

QPoint TokenTreeView::nodeCenter(int node) const {
  for (const TreeLayout::Box& b : layout_.boxes) {
    if (b.node == node) return canvas_->toCanvas(b.rect.center()).toPoint();
  }
  return {};
}

QString TokenTreeView::tokenLabel(int32_t id) const {
  return QStringLiteral("'%1' (id %2)").arg(run_->token_text(id)).arg(id);
}

void TokenTreeView::setRun(std::shared_ptr<const RunRecord> run) {
  // A newer snapshot of the same run (a live run growing) keeps its place.
  const bool same = run && run_ && run->name == run_->name;
  run_ = std::move(run);
  const int n = stepCount();
  if (!run_) {
    placeholder_->setText(tr("No speculative run yet: generate with a tree, or File > Open Trace"));
  } else if (!run_->settings.speculative()) {
    placeholder_->setText(tr("The token tree needs a speculative run: \"%1\" is target-only. "
                             "Generate with a draft model and a tree.")
                              .arg(run_->name));
  } else if (n == 0) {
    placeholder_->setText(tr("\"%1\" has no speculative steps yet.").arg(run_->name));
  }
  stack_->setCurrentIndex(n > 0 ? 1 : 0);
  if (!same) {
    step_ = 0;
    selected_ = -1;
    fit_ = true;
  }
  step_ = std::clamp(step_, 0, std::max(0, n - 1));
  {
    const QSignalBlocker block(slider_);
    slider_->setRange(0, std::max(0, n - 1));
    slider_->setValue(step_);
  }
  relayout();
}

bool TokenTreeView::showStep(int step) {
  const int n = stepCount();
  if (n == 0) return false;
  step = std::clamp(step, 0, n - 1);
  if (step == step_) return false;
  step_ = step;
  {
    const QSignalBlocker block(slider_);
    slider_->setValue(step_);
  }
  relayout();
  return true;
}

void TokenTreeView::setStep(int step) { showStep(step); }

void TokenTreeView::userStep(int step) {
  if (showStep(step)) emit stepSelected(step_);
}

void TokenTreeView::selectNode(int step, int node) {
  showStep(step);
  const StepRecord* s = currentRecord();
  selected_ = s && node >= 0 && node < int(s->nodes.size()) ? node : -1;
  updateDetails();
  canvas_->update();
  if (selected_ >= 0) {
    const QPoint c = nodeCenter(selected_);
    scroll_->ensureVisible(c.x(), c.y(), 80, 60);
  }
}

void TokenTreeView::userClickedBox(int node) {
  selected_ = node;
  updateDetails();
  canvas_->update();
  if (node >= 0) emit nodeSelected(step_, node);
}

void TokenTreeView::relayout() {
  const StepRecord* s = currentRecord();
  layout_ = {};
  token_texts_.clear();
  prob_texts_.clear();
  on_path_.clear();
  if (s) {
    const QFontMetrics tf(token_font(font()));
    const QFontMetrics pf(prob_font(font()));
    const QSizeF box(std::max(64, pf.horizontalAdvance(QStringLiteral("q .00 · p .00")) + 16),
                     tf.height() + pf.height() + 10);
    layout_ = TreeLayout::compute(s->nodes, s->path, true, box, kHGap, kVGap);
    const int n = int(s->nodes.size());
    on_path_.assign(n, 0);
    for (int32_t v : s->path) {
      if (v >= 0 && v < n) on_path_[v] = 1;
    }
    for (int i = 0; i < int(layout_.boxes.size()); ++i) {
      const bool bonus = i == layout_.bonus_index;
      token_texts_.push_back(run_->token_text(bonus ? s->bonus_token : nodeToken(i)));
      if (bonus) {
        prob_texts_.push_back(tr("bonus"));
      } else if (s->nodes[i].verdict == Verdict::Root || i == 0) {
        prob_texts_.push_back(tr("root"));
      } else {
        const NodeRecord& nd = s->nodes[i];
        QString t = QStringLiteral("q %1").arg(compact_prob(nd.draft_prob));
        if (nd.target_prob >= 0) t += QStringLiteral(" · p %1").arg(compact_prob(nd.target_prob));
        prob_texts_.push_back(t);
      }
    }
    // The tree's shape is fixed for a run, so node i is the same place in
    // every step: keep the selection when stepping.
    if (selected_ >= n) selected_ = -1;
    if (selected_ == TreeLayout::kBonus && layout_.bonus_index < 0) selected_ = -1;
  }
  const bool has = s != nullptr;
  first_->setEnabled(has && step_ > 0);
  prev_->setEnabled(has && step_ > 0);
  next_->setEnabled(has && step_ + 1 < stepCount());
  last_->setEnabled(has && step_ + 1 < stepCount());
  slider_->setEnabled(stepCount() > 1);
  updateHeader();
  updateDetails();
  if (fit_) fitToWidth();
  else updateCanvasSize();
}

void TokenTreeView::updateHeader() {
  const StepRecord* s = currentRecord();
  if (!s) {
    header_->clear();
    return;
  }
  const int drafted = std::max(0, int(s->nodes.size()) - 1);
  QString t = tr("Step %1 / %2 · %3 of %4 draft tokens accepted · bonus '%5'")
                  .arg(step_ + 1)
                  .arg(stepCount())
                  .arg(s->accepted)
                  .arg(drafted)
                  .arg(run_->token_text(s->bonus_token));
  if (s->emitted < s->accepted + 1) t += tr(" · %1 emitted (max tokens)").arg(s->emitted);
  if (s->step_us > 0) t += QStringLiteral(" · ") + ms(s->step_us);
  header_->setText(t);
}

QString TokenTreeView::nodeTooltip(int node) const {
  const StepRecord* s = currentRecord();
  if (!s) return {};
  if (node == TreeLayout::kBonus) {
    return tr("<b>bonus</b> %1<br>the target's own token after the last accepted node")
        .arg(tokenLabel(s->bonus_token).toHtmlEscaped());
  }
  if (node < 0 || node >= int(s->nodes.size())) return {};
  const NodeRecord& n = s->nodes[node];
  QString t = QStringLiteral("<b>%1</b> · node %2").arg(tokenLabel(nodeToken(node)).toHtmlEscaped()).arg(node);
  if (node == 0) return t + tr("<br>root: the last emitted token");
  t += QStringLiteral("<br>q %1").arg(precise_prob(n.draft_prob));
  if (n.target_prob >= 0) t += QStringLiteral(" · p %1").arg(precise_prob(n.target_prob));
  t += QStringLiteral("<br>") + verdict_name(n.verdict);
  if (!n.reason.isEmpty()) t += QStringLiteral(": ") + n.reason.toHtmlEscaped();
  return t;
}

void TokenTreeView::updateDetails() {
  const StepRecord* s = currentRecord();
  if (!s) {
    details_->clear();
    return;
  }
  auto row = [](const QString& k, const QString& v) {
    return QStringLiteral("<tr><td style='padding-right:12px'><b>%1</b></td><td>%2</td></tr>")
        .arg(k.toHtmlEscaped(), v.toHtmlEscaped());
  };
  QString html = QStringLiteral("<table cellspacing='1'>");
  if (selected_ == TreeLayout::kBonus) {
    const int last = s->path.empty() ? 0 : s->path.back();
    html += row(tr("Bonus token"), tokenLabel(s->bonus_token));
    html += row(tr("After"), tr("node %1 (the last accepted)").arg(last));
    html += row(tr("Why"), tr("the target's own token there: every step emits it, so a step "
                              "never makes less progress than plain decoding"));
  } else if (selected_ >= 0 && selected_ < int(s->nodes.size())) {
    const NodeRecord& n = s->nodes[selected_];
    html += row(tr("Node"), tr("%1, depth %2").arg(selected_).arg(layout_.boxes[selected_].depth));
    html += row(tr("Token"), tokenLabel(nodeToken(selected_)));
    if (selected_ > 0 && n.parent >= 0 && n.parent < int(s->nodes.size())) {
      html += row(tr("Parent"),
                  tr("node %1 %2").arg(n.parent).arg(tokenLabel(nodeToken(n.parent))));
    }
    if (selected_ > 0) {
      html += row(tr("Draft q"), precise_prob(n.draft_prob));
      html += row(tr("Target p"), n.target_prob >= 0 ? precise_prob(n.target_prob) : tr("not recorded"));
    }
    html += row(tr("Target argmax after it"),
                n.target_argmax >= 0 ? tokenLabel(n.target_argmax) : tr("not recorded"));
    html += row(tr("Verdict"), verdict_name(n.verdict));
    if (selected_ > 0) {
      QString reason = n.reason;
      if (reason.isEmpty() && n.verdict == Verdict::NotExamined) {
        reason = tr("acceptance stopped before reaching it");
      }
      html += row(tr("Reason"), reason.isEmpty() ? tr("—") : reason);
    }
  } else {
    html += row(tr("Step"), tr("%1 of %2 (engine step %3)").arg(step_ + 1).arg(stepCount()).arg(s->step));
    html += row(tr("Tree"), tr("%1 draft tokens, %2 accepted, %3 emitted")
                                .arg(std::max(0, int(s->nodes.size()) - 1))
                                .arg(s->accepted)
                                .arg(s->emitted));
    if (s->step_us > 0) {
      html += row(tr("Phases"), tr("draft %1 · verify %2 · accept %3 · backtrack %4")
                                    .arg(ms(s->draft_us), ms(s->verify_us), ms(s->accept_us),
                                         ms(s->backtrack_us)));
    }
    if (s->peak_live_states > 0) html += row(tr("Peak live states"), QString::number(s->peak_live_states));
    html += row(QString(), tr("Click a node for its probabilities and the acceptance reason."));
  }
  html += QStringLiteral("</table>");
  details_->setHtml(html);
}

void TokenTreeView::updateCanvasSize() {
  const QSizeF b = layout_.bounds.size() * zoom_;
  canvas_->setFixedSize(int(std::ceil(b.width())) + 2 * kMargin,
                        int(std::ceil(b.height())) + 2 * kMargin);
  relabel();
  canvas_->update();
}

void TokenTreeView::relabel() {
  labels_.clear();
  probs_.clear();
  text_lines_ = 0;
  if (layout_.empty()) return;
  const double scale = std::clamp(zoom_, kMinTextScale, kMaxFitZoom);
  box_token_font_ = token_font(font(), scale);
  box_prob_font_ = prob_font(font(), scale);
  const QFontMetrics tf(box_token_font_), pf(box_prob_font_);
  const QSizeF box = layout_.boxes[0].rect.size() * zoom_;
  // As many lines as the box holds on screen: token and probabilities, the
  // token alone, or nothing (the tooltip still has it all).
  if (box.width() >= 14 && box.height() >= tf.height() + 4) text_lines_ = 1;
  if (text_lines_ == 1 && box.height() >= tf.height() + pf.height() + 4) text_lines_ = 2;
  const int w = int(box.width()) - 6;
  for (size_t i = 0; i < token_texts_.size(); ++i) {
    labels_.push_back(tf.elidedText(token_texts_[i], Qt::ElideRight, w));
    QString t = prob_texts_[i];
    if (pf.horizontalAdvance(t) > w) t.remove(QLatin1Char(' '));  // "q<.01·p<.01" before eliding
    probs_.push_back(pf.elidedText(t, Qt::ElideRight, w));
  }
}

int32_t TokenTreeView::nodeToken(int node) const {
  const StepRecord* s = currentRecord();
  // The root is the last token emitted before this step, known from the
  // output even when the trace did not record it with the tree.
  if (node == 0 && s->first_token >= 1 && s->first_token <= int(run_->generated_ids.size())) {
    return run_->generated_ids[s->first_token - 1];
  }
  return s->nodes[node].token;
}

void TokenTreeView::fitToWidth() {
  fit_ = true;
  if (layout_.empty()) {
    zoom_ = 1.0;
    updateCanvasSize();
    return;
  }
  // From the scroll area's own size, not the viewport's: a scroll bar coming
  // and going must not make the fit oscillate.
  const QRect area = scroll_->contentsRect();
  const QSizeF b = layout_.bounds.size();
  // Small trees grow a little, but only as far as the height allows too.
  const double by_height = std::max(1.0, (area.height() - 2.0 * kMargin) / b.height());
  auto fit = [&](int w) {
    return std::clamp((w - 2.0 * kMargin) / b.width(), kMinFitZoom, std::min(kMaxFitZoom, by_height));
  };
  double z = fit(area.width());
  if (b.height() * z + 2 * kMargin > area.height()) {
    z = fit(area.width() - style()->pixelMetric(QStyle::PM_ScrollBarExtent));
  }
  zoom_ = z;
  updateCanvasSize();
}

void TokenTreeView::zoomBy(double factor, QPoint anchor) {
  if (layout_.empty()) return;
  const double old = zoom_;
  const double z = std::clamp(zoom_ * factor, kMinZoom, kMaxZoom);
  if (z == old) return;
  // Keep the tree point under the cursor where it is.
  const QPointF at = canvas_->toLayout(canvas_->mapFrom(scroll_->viewport(), anchor));
  fit_ = false;
  zoom_ = z;
  updateCanvasSize();
  const QPoint now = canvas_->mapTo(scroll_->viewport(), canvas_->toCanvas(at).toPoint());
  scroll_->horizontalScrollBar()->setValue(scroll_->horizontalScrollBar()->value() + now.x() - anchor.x());
  scroll_->verticalScrollBar()->setValue(scroll_->verticalScrollBar()->value() + now.y() - anchor.y());
}

bool TokenTreeView::eventFilter(QObject* watched, QEvent* event) {
  if (watched == scroll_ && event->type() == QEvent::Resize && fit_) fitToWidth();
  return QWidget::eventFilter(watched, event);
}

void TokenTreeView::keyPressEvent(QKeyEvent* e) {
  if (stepCount() == 0) return QWidget::keyPressEvent(e);
  if (e->modifiers() & Qt::ControlModifier) {
    switch (e->key()) {
      case Qt::Key_0: fitToWidth(); return;
      case Qt::Key_Plus:
      case Qt::Key_Equal: zoomBy(1.25, scroll_->viewport()->rect().center()); return;
      case Qt::Key_Minus: zoomBy(0.8, scroll_->viewport()->rect().center()); return;
      default: break;
    }
    return QWidget::keyPressEvent(e);
  }
  switch (e->key()) {
    case Qt::Key_Left: userStep(step_ - 1); return;
    case Qt::Key_Right: userStep(step_ + 1); return;
    case Qt::Key_Home: userStep(0); return;
    case Qt::Key_End: userStep(stepCount() - 1); return;
    case Qt::Key_PageUp: userStep(step_ - kPageSteps); return;
    case Qt::Key_PageDown: userStep(step_ + kPageSteps); return;
    case Qt::Key_Escape:
      if (selected_ != -1) userClickedBox(-1);
      return;
    default: break;
  }
  QWidget::keyPressEvent(e);
}

}  // namespace sm::ui
