// SPDX-License-Identifier: Apache-2.0
#pragma once
// "Dump current prompt": loads a model, runs the prompt (and max_tokens
// greedy tokens) with an activation dump attached, as `specmamba generate
// --dump` does (core/dump/dump_generate.h), on a std::thread with cancel.
// A cancelled or failed job leaves no file behind (the writer removes its
// PATH.tmp); finished() hands back the dump's path.
#include <QObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <thread>

namespace sm::ui {

struct DumpJobRequest {
  QString model_dir;
  QString prompt;
  QString out_path;
  int max_tokens = 16;
  QString layers;  // --dump-layers syntax: "" or "all", "0,3,5-7"
  QString tokens;  // --dump-tokens syntax
  bool logits = false;
  int threads = 1;
};

class DumpJob : public QObject {
  Q_OBJECT

 public:
  explicit DumpJob(QObject* parent = nullptr);
  ~DumpJob() override;  // cancels and joins

  bool isBusy() const { return busy_; }
  // False (and failed) when a job is running.
  bool start(const DumpJobRequest& request);
  void stop();  // ends in cancelled()

 signals:
  void progress(int tokens, int total);
  void finished(const QString& path, qint64 tokens_run, qint64 rows_dumped);
  void failed(const QString& message);
  void cancelled();

 private:
  bool busy_ = false;
  uint64_t job_id_ = 0;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
};

}  // namespace sm::ui
