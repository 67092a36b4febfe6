// SPDX-License-Identifier: Apache-2.0
#include "ui/views/resource_meter.h"

#include <QPainter>

#include <algorithm>

#include "ui/generation_types.h"
#include "ui/views/palette.h"

namespace sm::ui {

namespace {
constexpr int kRow = 20, kGap = 4, kLabel = 48;
}

ResourceMeter::ResourceMeter(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("resourceMeter"));
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void ResourceMeter::setBars(const std::vector<ResourceBar>& bars, const QString& platform, const QString& problem) {
  bars_ = bars;
  fits_ = problem.isEmpty() && std::all_of(bars.begin(), bars.end(), [](const ResourceBar& b) { return b.fits(); });
  status_ = !problem.isEmpty() ? problem : tr("fits %1").arg(platform);
  setToolTip(status_);
  updateGeometry();
  update();
}

QStringList ResourceMeter::overflowing() const {
  QStringList out;
  for (const ResourceBar& b : bars_)
    if (!b.fits()) out << b.name;
  return out;
}

QSize ResourceMeter::sizeHint() const { return {320, 4 * (kRow + kGap) + 2 * kRow}; }
QSize ResourceMeter::minimumSizeHint() const { return {200, 4 * (kRow + kGap) + 2 * kRow}; }

void ResourceMeter::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  const int w = width();
  int y = 0;
  const QColor ok = colors::accepted(), bad = colors::rejected();
  for (const ResourceBar& b : bars_) {
    const QRect label(0, y, kLabel, kRow);
    const QRect track(kLabel, y + 3, std::max(20, w - kLabel - 4), kRow - 6);
    p.setPen(b.fits() ? colors::text() : bad);
    QFont f = font();
    f.setBold(!b.fits());
    p.setFont(f);
    p.drawText(label, Qt::AlignVCenter | Qt::AlignLeft, b.name);
    p.setPen(Qt::NoPen);
    p.setBrush(colors::window().darker(110));
    p.drawRoundedRect(track, 3, 3);
    const double frac = std::clamp(b.fraction(), 0.0, 1.0);
    p.setBrush(b.fits() ? ok : bad);
    p.drawRoundedRect(QRectF(track.left(), track.top(), track.width() * frac, track.height()), 3, 3);
    p.setPen(b.fits() ? colors::text() : Qt::white);
    const QString text = QStringLiteral("%1 / %2 (%3%)%4")
                             .arg(format_count(b.used), format_count(b.available))
                             .arg(b.fraction() * 100, 0, 'f', b.fraction() < 0.1 ? 1 : 0)
                             .arg(b.fits() ? QString() : tr(" — does not fit"));
    p.setFont(font());
    p.drawText(track.adjusted(6, 0, -4, 0), Qt::AlignVCenter | Qt::AlignLeft, text);
    y += kRow + kGap;
  }
  p.setPen(fits_ ? colors::text() : bad);
  QFont f = font();
  f.setBold(!fits_);
  p.setFont(f);
  p.drawText(QRect(0, y, w, 2 * kRow), Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, status_);
}

}  // namespace sm::ui
