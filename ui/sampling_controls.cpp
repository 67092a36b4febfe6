// SPDX-License-Identifier: Apache-2.0
#include "ui/sampling_controls.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpressionValidator>
#include <QSpinBox>

#include "ui/pair_row.h"

namespace sm::ui {

SamplingControls::SamplingControls(QWidget* parent) : QWidget(parent) {
  max_tokens_ = new QSpinBox(this);
  max_tokens_->setObjectName(QStringLiteral("maxTokensSpin"));
  max_tokens_->setRange(0, 1000000);
  max_tokens_->setValue(200);
  max_tokens_->setToolTip(tr("Tokens to generate"));

  temperature_ = new QDoubleSpinBox(this);
  temperature_->setObjectName(QStringLiteral("temperatureSpin"));
  temperature_->setRange(0.0, 5.0);
  temperature_->setSingleStep(0.1);
  temperature_->setDecimals(2);
  temperature_->setSpecialValueText(tr("0 (greedy)"));
  temperature_->setToolTip(tr("0 = greedy decoding"));

  top_k_ = new QSpinBox(this);
  top_k_->setObjectName(QStringLiteral("topKSpin"));
  top_k_->setRange(0, 1000000);
  top_k_->setSpecialValueText(tr("off"));
  top_k_->setToolTip(tr("Keep the k most likely tokens (0 = off)"));

  top_p_ = new QDoubleSpinBox(this);
  top_p_->setObjectName(QStringLiteral("topPSpin"));
  top_p_->setRange(0.01, 1.0);
  top_p_->setSingleStep(0.05);
  top_p_->setDecimals(2);
  top_p_->setValue(1.0);
  top_p_->setToolTip(tr("Nucleus sampling mass (1 = off)"));

  seed_ = new QLineEdit(QStringLiteral("0"), this);
  seed_->setObjectName(QStringLiteral("seedEdit"));
  seed_->setValidator(
      new QRegularExpressionValidator(QRegularExpression(QStringLiteral("\\d{1,19}")), seed_));
  seed_->setMaximumWidth(seed_->fontMetrics().horizontalAdvance(QLatin1Char('9')) * 12);
  seed_->setToolTip(tr("Random seed (the same seed gives the same output)"));

  // One row when it fits, else two: never a squeezed field.
  auto* row = new PairRow(3, this);
  row->addPair(tr("Max &tokens"), max_tokens_);
  row->addPair(tr("T&emperature"), temperature_);
  row->addPair(tr("Top-&k"), top_k_);
  row->addPair(tr("Top-&p"), top_p_);
  row->addPair(tr("&Seed"), seed_);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(row);
}

int SamplingControls::maxTokens() const { return max_tokens_->value(); }
void SamplingControls::setMaxTokens(int n) { max_tokens_->setValue(n); }

SamplingParams SamplingControls::params() const {
  SamplingParams p;
  p.temperature = static_cast<float>(temperature_->value());
  p.top_k = top_k_->value();
  p.top_p = static_cast<float>(top_p_->value());
  p.seed = seed_->text().toULongLong();
  return p;
}

void SamplingControls::setParams(const SamplingParams& p) {
  temperature_->setValue(p.temperature);
  top_k_->setValue(p.top_k);
  top_p_->setValue(p.top_p);
  seed_->setText(QString::number(p.seed));
}

}  // namespace sm::ui
