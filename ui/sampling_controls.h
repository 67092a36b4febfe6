// SPDX-License-Identifier: Apache-2.0
#pragma once
// Max tokens, temperature, top-k, top-p and seed in one row of widgets,
// read and written as sm::SamplingParams.
#include <QWidget>

#include <cstdint>

#include "core/model/sampler.h"

class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace sm::ui {

class SamplingControls : public QWidget {
  Q_OBJECT

 public:
  explicit SamplingControls(QWidget* parent = nullptr);

  int maxTokens() const;
  void setMaxTokens(int n);
  SamplingParams params() const;
  void setParams(const SamplingParams& p);

 private:
  QSpinBox* max_tokens_ = nullptr;
  QDoubleSpinBox* temperature_ = nullptr;
  QSpinBox* top_k_ = nullptr;
  QDoubleSpinBox* top_p_ = nullptr;
  QLineEdit* seed_ = nullptr;
};

}  // namespace sm::ui
