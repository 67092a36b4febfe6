// SPDX-License-Identifier: Apache-2.0
#pragma once
// A non-modal, dismissible message strip shown inside the window (in the
// manner of KMessageWidget): errors never block the GUI with a modal dialog.
// It floats over the top of its parent (an overlay): showing or hiding it
// never moves the layout, so the next click lands where the user aimed.
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

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void place();

  QLabel* label_ = nullptr;
  QToolButton* close_ = nullptr;
};

}  // namespace sm::ui
