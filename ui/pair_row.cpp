// SPDX-License-Identifier: Apache-2.0
#include "ui/pair_row.h"

#include <QEvent>
#include <QGridLayout>
#include <QLabel>

#include <algorithm>

namespace sm::ui {

namespace {
constexpr int kPairGap = 8;  // label indent: space between one pair and the next

// What a layout may shrink `w` to: an explicit minimum wins over the hint.
int least_width(const QWidget* w) {
  return w->minimumWidth() > 0 ? w->minimumWidth() : w->minimumSizeHint().width();
}
}  // namespace

PairRow::PairRow(int per_row, QWidget* parent) : QWidget(parent), per_row_(std::max(1, per_row)) {
  grid_ = new QGridLayout(this);
  grid_->setContentsMargins(0, 0, 0, 0);
  grid_->setHorizontalSpacing(6);
  grid_->setVerticalSpacing(4);
}

QLabel* PairRow::addPair(const QString& text, QWidget* field) {
  auto* label = new QLabel(text, this);
  label->setBuddy(field);
  field->setParent(this);
  pairs_.emplace_back(label, field);
  arrange(wrapped_);
  return label;
}

int PairRow::rowWidth(bool wrapped, bool hint) const {
  const int cols = wrapped ? std::min<int>(per_row_, int(pairs_.size())) : int(pairs_.size());
  if (cols == 0) return 0;
  std::vector<int> widths(size_t(2 * cols), 0);
  for (size_t i = 0; i < pairs_.size(); ++i) {
    const size_t c = 2 * (i % size_t(cols));
    const auto [label, field] = pairs_[i];
    // Without the label's current indent: it depends on the arrangement.
    const QMargins m = label->contentsMargins();
    const int text = (hint ? label->sizeHint().width() : least_width(label)) - m.left() - m.right();
    widths[c] = std::max(widths[c], text + (c > 0 ? kPairGap : 0));
    widths[c + 1] = std::max(widths[c + 1], hint ? field->sizeHint().width() : least_width(field));
  }
  int w = grid_->horizontalSpacing() * (2 * cols - 1);
  for (int x : widths) w += x;
  return w;
}

void PairRow::arrange(bool wrapped) {
  wrapped_ = wrapped;
  for (const auto& [label, field] : pairs_) {
    grid_->removeWidget(label);
    grid_->removeWidget(field);
  }
  const int cols = wrapped ? per_row_ : int(pairs_.size());
  for (int c = 0; c <= 2 * int(pairs_.size()); ++c) grid_->setColumnStretch(c, 0);
  for (size_t i = 0; i < pairs_.size(); ++i) {
    const int row = int(i) / cols, col = 2 * (int(i) % cols);
    // A pair that starts a wrapped row needs no gap before it.
    pairs_[i].first->setContentsMargins(col == 0 ? 0 : kPairGap, 0, 0, 0);
    grid_->addWidget(pairs_[i].first, row, col);
    grid_->addWidget(pairs_[i].second, row, col + 1);
  }
  grid_->setColumnStretch(2 * std::min<int>(cols, int(pairs_.size())), 1);  // pack to the left
  updateGeometry();
}

void PairRow::fitToWidth() {
  const bool wrap = width() < rowWidth(false, false);
  if (wrap != wrapped_) arrange(wrap);
}

QSize PairRow::sizeHint() const {
  return {rowWidth(false, true), grid_->sizeHint().height()};
}

QSize PairRow::minimumSizeHint() const {
  return {rowWidth(true, false), grid_->minimumSize().height()};
}

void PairRow::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  fitToWidth();
}

void PairRow::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::FontChange || event->type() == QEvent::StyleChange) fitToWidth();
}

}  // namespace sm::ui
