// SPDX-License-Identifier: Apache-2.0
#pragma once
// The generation view: prompt, sampling controls, speculative decoding
// settings, Generate / Stop and the streaming output pane (with a colour
// legend). It only edits and shows; MainWindow drives the worker.
#include <QWidget>

class QPlainTextEdit;
class QPushButton;

namespace sm::ui {

class SamplingControls;
class SpecControls;
class TokenStreamView;

class GenerationPanel : public QWidget {
  Q_OBJECT

 public:
  explicit GenerationPanel(QWidget* parent = nullptr);

  QString prompt() const;
  void setPrompt(const QString& text);
  SamplingControls* sampling() const { return sampling_; }
  SpecControls* spec() const { return spec_; }
  TokenStreamView* output() const { return output_; }
  QPushButton* generateButton() const { return generate_; }
  QPushButton* stopButton() const { return stop_; }

  void setGenerateEnabled(bool enabled);
  void setStopEnabled(bool enabled);
  // Demos: hides the sampling and speculative settings, larger output text.
  void setPresentationMode(bool on);

 signals:
  void generateRequested();
  void stopRequested();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  QPlainTextEdit* prompt_ = nullptr;
  SamplingControls* sampling_ = nullptr;
  SpecControls* spec_ = nullptr;
  QPushButton* generate_ = nullptr;
  QPushButton* stop_ = nullptr;
  TokenStreamView* output_ = nullptr;
};

}  // namespace sm::ui
