// SPDX-License-Identifier: Apache-2.0
#pragma once
// Bars of DSP / LUT / BRAM / URAM use against the platform: blue while the
// design fits, red with the resource named when it does not.
#include <QWidget>

#include <vector>

#include "ui/models/resource_bars.h"

namespace sm::ui {

class ResourceMeter : public QWidget {
  Q_OBJECT

 public:
  explicit ResourceMeter(QWidget* parent = nullptr);

  // `problem`: an invalid design (no bars) or check_fit's message.
  void setBars(const std::vector<ResourceBar>& bars, const QString& platform, const QString& problem);
  const std::vector<ResourceBar>& bars() const { return bars_; }
  // "fits vck190" / check_fit's message / the invalid field.
  QString statusText() const { return status_; }
  bool fits() const { return fits_; }
  // Names of the resources over the platform's amount.
  QStringList overflowing() const;

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  std::vector<ResourceBar> bars_;
  QString status_;
  bool fits_ = true;
};

}  // namespace sm::ui
