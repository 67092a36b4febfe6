// SPDX-License-Identifier: Apache-2.0
#pragma once
// The demo race: target-only and speculative decoding of the same prompt are
// measured one after the other (RaceWorker), then played back side by side at
// their measured pace, slowed down by a playback factor (the shipped pair
// decodes ~10,000 tok/s, far too fast to watch). Two panes fill with text,
// accepted draft tokens tinted and underlined; above each a large live figure
// (tokens so far, measured tok/s); above both the speedup and, for greedy
// runs, the lossless check. Presentation mode: 1.6x fonts, fewer controls.
#include <QElapsedTimer>
#include <QStringDecoder>
#include <QTextCharFormat>
#include <QTimer>
#include <QWidget>

#include <memory>

#include "ui/workers/race_worker.h"

class QCheckBox;
class QComboBox;
class QGridLayout;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace sm::ui {

class RaceView : public QWidget {
  Q_OBJECT

 public:
  explicit RaceView(QWidget* parent = nullptr);
  ~RaceView() override;

  // The race to run; prompt, token count and tree are editable in the view.
  void setRequest(const RaceRequest& request);
  RaceRequest request() const;

  void start();  // measure both lanes, then play back (Ctrl+R)
  void stop();   // cancels measuring, or freezes the playback
  void replay(); // plays the last result again from the start
  // Measuring or playing back.
  bool isRunning() const { return state_ == State::Measuring || state_ == State::Playing; }
  bool isMeasuring() const { return state_ == State::Measuring; }
  bool isPlaying() const { return state_ == State::Playing; }

  void setPresentation(bool on);
  bool presentation() const { return presentation_; }

  // The last measured race; null before the first one finished.
  const RaceResult* result() const { return result_.get(); }

  // Playback seconds per measured second, e.g. 1/300; 0 = automatic (the
  // target-only lane plays at kAutoTokensPerSecond).
  void setPlaybackFactor(double factor);
  double playbackFactor() const;  // the factor in effect (automatic: once a result is known)
  static constexpr double kAutoTokensPerSecond = 30.0;

  // Tests: shows every token at once and ends the playback.
  void finishPlaybackNow();

 signals:
  void measured();  // both lanes are measured; playback starts
  void finished();  // playback reached the end of both lanes
  void raceFailed(const QString& message);

 protected:
  void changeEvent(QEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;

 private:
  enum class State { Idle, Measuring, Playing, Stopped, Done };

  struct Lane {
    QLabel* title = nullptr;
    QLabel* figure = nullptr;  // "123 tokens · 9,850 tok/s"
    QLabel* detail = nullptr;  // prefill, passes, tokens per pass
    QPlainTextEdit* pane = nullptr;
    QStringDecoder decoder{QStringDecoder::Utf8};
    size_t shown = 0;
  };

  void buildUi();
  void placeSecondary(bool narrow);  // one row, or two below ~760 px
  void applyFonts();
  void updateFormats();
  void updateControls();
  void updateTitles();
  void setStatus(const QString& text, bool error = false);

  void onProgress(const QString& phase, int done, int total);
  void onMeasured(const RaceResult& result);
  void onFailed(const QString& message);
  void onCancelled();

  void resetPanes();
  void beginPlayback();
  void tick();
  void advance(Lane& lane, const RaceLane& data, double until_s);
  void updateFigure(Lane& lane, const RaceLane& data);
  void showHeadline();
  QString factorText() const;
  double autoFactor() const;
  double playbackPosition() const;  // measured seconds reached by the playback

  RaceWorker worker_;
  RaceRequest request_;
  QString race_prompt_;  // the prompt of the race in the panes (the field may change since)
  std::unique_ptr<RaceResult> result_;
  State state_ = State::Idle;
  bool presentation_ = false;
  double factor_ = 0.0;  // 0 = automatic

  QWidget* secondary_ = nullptr;  // rows hidden in presentation mode
  QGridLayout* secondary_grid_ = nullptr;
  QWidget* secondary_items_[8] = {};  // label, field, label, field, ...
  int secondary_narrow_ = -1;         // -1: not placed yet
  bool compact_ = false;              // small widget: smaller headline figures, no detail lines
  QPushButton* start_ = nullptr;
  QPushButton* stop_ = nullptr;
  QPushButton* replay_ = nullptr;
  QCheckBox* presentation_box_ = nullptr;
  QComboBox* speed_ = nullptr;
  QLineEdit* prompt_ = nullptr;
  QSpinBox* tokens_ = nullptr;
  QLineEdit* tree_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* speedup_ = nullptr;
  QLabel* check_ = nullptr;
  QLabel* legend_ = nullptr;
  Lane plain_, spec_;

  QTextCharFormat prompt_fmt_, target_fmt_, draft_fmt_;
  QTimer timer_;
  QElapsedTimer clock_;
  double play_offset_s_ = 0.0;  // measured seconds already played before clock_ started
  bool headline_shown_ = false;
};

}  // namespace sm::ui
