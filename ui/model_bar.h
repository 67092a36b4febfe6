// SPDX-License-Identifier: Apache-2.0
#pragma once
// Model chooser: directory path, "Open…" (directory dialog), thread count,
// Load, and a one-line description of the loaded model.
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace sm::ui {

struct ModelInfo;

class ModelBar : public QWidget {
  Q_OBJECT

 public:
  explicit ModelBar(QWidget* parent = nullptr);

  QString path() const;
  void setPath(const QString& path);
  int threads() const;
  void setThreads(int n);
  // Where the quantized ops run: "cpu", "emu" or "xrt".
  QString device() const;
  void setDevice(const QString& name);
  void setInfo(const ModelInfo& info);
  void setInfoText(const QString& text);
  void setLoadEnabled(bool enabled);

 public slots:
  void browse();

 signals:
  void loadRequested(const QString& path, int threads);

 private:
  QLineEdit* path_ = nullptr;
  QPushButton* open_ = nullptr;
  QSpinBox* threads_ = nullptr;
  QComboBox* device_ = nullptr;
  QPushButton* load_ = nullptr;
  QLabel* info_ = nullptr;
};

}  // namespace sm::ui
