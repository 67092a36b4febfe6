// SPDX-License-Identifier: Apache-2.0
#include "ui/model_bar.h"

#include <QComboBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "ui/generation_types.h"

namespace sm::ui {

ModelBar::ModelBar(QWidget* parent) : QWidget(parent) {
  path_ = new QLineEdit(this);
  path_->setObjectName(QStringLiteral("modelPathEdit"));
  path_->setPlaceholderText(tr("model directory (config.json + *.safetensors)"));
  path_->setClearButtonEnabled(true);
  open_ = new QPushButton(tr("Open…"), this);
  open_->setObjectName(QStringLiteral("openModelButton"));
  open_->setToolTip(tr("Choose a model directory"));
  threads_ = new QSpinBox(this);
  threads_->setObjectName(QStringLiteral("threadsSpin"));
  threads_->setRange(1, 256);
  threads_->setValue(1);
  threads_->setPrefix(tr("threads "));
  threads_->setToolTip(tr("CPU threads for the model (applied when loading)"));
  device_ = new QComboBox(this);
  device_->setObjectName(QStringLiteral("deviceCombo"));
  device_->addItem(tr("cpu"), QStringLiteral("cpu"));
  device_->addItem(tr("emu"), QStringLiteral("emu"));
  device_->addItem(tr("xrt"), QStringLiteral("xrt"));
  device_->setToolTip(tr("Where a quantized model's integer ops run (applied at the next run):\n"
                         "cpu — the model's own CPU kernels\n"
                         "emu — the accelerator's HLS kernels on the CPU, bit-exact with the FPGA\n"
                         "xrt — an FPGA board through XRT (xclbin from SPECMAMBA_XCLBIN); without one, emu"));
  load_ = new QPushButton(tr("Load"), this);
  load_->setObjectName(QStringLiteral("loadModelButton"));
  info_ = new QLabel(tr("no model loaded"), this);
  info_->setObjectName(QStringLiteral("modelInfoLabel"));
  info_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  info_->setWordWrap(true);

  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->addWidget(new QLabel(tr("Model:"), this), 0, 0);
  grid->addWidget(path_, 0, 1);
  grid->addWidget(open_, 0, 2);
  grid->addWidget(threads_, 0, 3);
  grid->addWidget(device_, 0, 4);
  grid->addWidget(load_, 0, 5);
  grid->addWidget(info_, 1, 1, 1, 5);
  grid->setColumnStretch(1, 1);

  connect(open_, &QPushButton::clicked, this, &ModelBar::browse);
  auto request = [this] { emit loadRequested(path(), threads()); };
  connect(load_, &QPushButton::clicked, this, request);
  connect(path_, &QLineEdit::returnPressed, this, request);
}

QString ModelBar::path() const { return path_->text().trimmed(); }
void ModelBar::setPath(const QString& path) { path_->setText(path); }
int ModelBar::threads() const { return threads_->value(); }
void ModelBar::setThreads(int n) { threads_->setValue(n); }
QString ModelBar::device() const { return device_->currentData().toString(); }
void ModelBar::setDevice(const QString& name) {
  const int i = device_->findData(name);
  if (i >= 0) device_->setCurrentIndex(i);
}

void ModelBar::setInfo(const ModelInfo& info) {
  info_->setText(info.summary());
  info_->setToolTip(info.path);
}

void ModelBar::setInfoText(const QString& text) {
  info_->setText(text);
  info_->setToolTip({});
}

void ModelBar::setLoadEnabled(bool enabled) {
  load_->setEnabled(enabled);
  open_->setEnabled(enabled);
}

void ModelBar::browse() {
  // Non-blocking: the dialog reports back through a signal.
  auto* dlg = new QFileDialog(this, tr("Open model directory"), path());
  dlg->setFileMode(QFileDialog::Directory);
  dlg->setOption(QFileDialog::ShowDirsOnly, true);
  dlg->setAttribute(Qt::WA_DeleteOnClose);
  connect(dlg, &QFileDialog::fileSelected, this, [this](const QString& dir) {
    if (dir.isEmpty()) return;
    setPath(dir);
    emit loadRequested(path(), threads());
  });
  dlg->open();
}

}  // namespace sm::ui
