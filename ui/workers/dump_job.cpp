// SPDX-License-Identifier: Apache-2.0
// core headers first: Qt's emit / slots macros must not reach them.
#include "core/dump/dump_generate.h"
#include "core/dump/dump_writer.h"
#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"

#include "ui/workers/dump_job.h"

#include <QFile>

#include <chrono>
#include <exception>
#include <memory>

#include "ui/workers/job_support.h"

namespace sm::ui {

DumpJob::DumpJob(QObject* parent) : QObject(parent) {}

DumpJob::~DumpJob() {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

void DumpJob::stop() { cancel_ = true; }

bool DumpJob::start(const DumpJobRequest& req) {
  if (busy_) {
    emit failed(tr("a dump is already being written"));
    return false;
  }
  if (thread_.joinable()) thread_.join();
  cancel_ = false;
  busy_ = true;
  const uint64_t id = ++job_id_;
  thread_ = std::thread([this, id, req] {
    QString error;
    bool was_cancelled = false;
    int64_t tokens_run = 0, rows = 0;
    try {
      if (req.model_dir.trimmed().isEmpty()) fail("", "no model: choose a model directory");
      if (req.out_path.trimmed().isEmpty()) fail("", "no output file for the dump");
      if (req.prompt.isEmpty()) fail("", "the prompt is empty");
      DumpOptions o;
      o.layers = IndexFilter::parse(req.layers.toStdString(), "--dump-layers");
      o.tokens = IndexFilter::parse(req.tokens.toStdString(), "--dump-tokens");
      o.logits = req.logits;
      const std::string dir = QFile::encodeName(req.model_dir).toStdString();
      o.model = dir;
      std::shared_ptr<MambaModel> m = MambaModel::load(dir);
      m->set_threads(req.threads);
      check_layer_filter(o.layers, m->config().n_layer, "--dump-layers");
      std::shared_ptr<const Tokenizer> tok = load_tokenizer_for_model(dir);
      const QByteArray utf8 = req.prompt.toUtf8();
      const std::vector<int32_t> prompt = tok->encode(std::string_view(utf8.data(), utf8.size()));
      GenerateOptions opt;
      opt.max_tokens = req.max_tokens;
      opt.stop_at_eos = true;
      DumpWriter w(QFile::encodeName(req.out_path).toStdString(), *m, o);
      int done = 0;
      auto last = std::chrono::steady_clock::now();
      const GenerateResult r = generate_with_dump(
          *m, *tok, prompt, opt, w,
          [&](int32_t, const std::string&) {
            ++done;
            const auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(50)) return;
            last = now;
            QMetaObject::invokeMethod(
                this, [this, id, done, total = req.max_tokens] { if (id == job_id_) emit progress(done, total); },
                Qt::QueuedConnection);
          },
          &cancel_);
      was_cancelled = r.stats.cancelled;
      tokens_run = w.tokens_seen();
      rows = w.rows_written();
    } catch (...) {
      error = what_of(std::current_exception());
    }
    QMetaObject::invokeMethod(
        this,
        [this, id, error, was_cancelled, path = req.out_path, tokens_run, rows] {
          if (id != job_id_) return;
          if (thread_.joinable()) thread_.join();
          busy_ = false;
          if (!error.isEmpty()) emit failed(error);
          else if (was_cancelled) emit cancelled();
          else emit finished(path, tokens_run, rows);
        },
        Qt::QueuedConnection);
  });
  return true;
}

}  // namespace sm::ui
