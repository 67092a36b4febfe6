// SPDX-License-Identifier: Apache-2.0
#pragma once
// A non-modal, dismissible message strip shown inside the window (in the
// manner of KMessageWidget): errors never block the GUI with a modal dialog.
#include <QFrame>

class QLabel;
class QToolButton;

namespace sm::ui {

class MessageBanner : public QFrame {
  Q_OBJECT

 public:
  enum class Kind { Info, Error };

  explicit MessageBanner(QWidget* parent = nullptr);

  void showMessage(const QString& text, Kind kind = Kind::Error);
  QString text() const;

 private:
  QLabel* label_ = nullptr;
  QToolButton* close_ = nullptr;
};

}  // namespace sm::ui
