// SPDX-License-Identifier: Apache-2.0
// core/spec_decoder.h uses the names `emit` and `slots`, which Qt defines as
// macros: include it before any Qt header.
#include "core/spec/spec_decoder.h"

#include "ui/workers/race_worker.h"

#include <QFile>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"
#include "ui/generation_worker.h"
#include "ui/workers/job_support.h"

namespace sm::ui {

namespace {

// Times relative to the first token, which is sampled right after prefill.
void finish_times(RaceLane& lane, const std::vector<double>& abs) {
  if (abs.empty()) return;
  double prev = 0.0;
  for (size_t i = 0; i < lane.tokens.size(); ++i) {
    prev = std::max(prev, abs[i] - abs[0]);
    lane.tokens[i].t_s = prev;
  }
}

QByteArray bytes_of(const std::string& s) { return QByteArray(s.data(), static_cast<qsizetype>(s.size())); }

}  // namespace

int RaceLane::draftTokens() const {
  return static_cast<int>(std::count_if(tokens.begin(), tokens.end(), [](const RaceToken& t) { return t.draft; }));
}

QByteArray RaceLane::text() const {
  QByteArray out;
  for (const RaceToken& t : tokens) out += t.bytes;
  return out;
}

double RaceResult::speedup() const {
  if (plain.tokens_per_second <= 0 || spec.tokens_per_second <= 0) return 0.0;
  return spec.tokens_per_second / plain.tokens_per_second;
}

RaceWorker::RaceWorker(QObject* parent) : QObject(parent) { qRegisterMetaType<sm::ui::RaceResult>(); }

RaceWorker::~RaceWorker() { cancelAndWait(); }

bool RaceWorker::start(const RaceRequest& req) {
  if (busy_) {
    emit failed(tr("a race is already running"));
    return false;
  }
  joinThread();
  cancel_ = false;
  busy_ = true;
  const uint64_t id = ++job_id_;
  const int interval_ms = progress_interval_ms_;
  thread_ = std::thread([this, id, req, interval_ms] {
    using Clock = std::chrono::steady_clock;
    Clock::time_point last_post{};
    // Throttled here, not in the GUI: a 10,000 tok/s lane must not flood the event queue.
    auto post_progress = [&](const QString& phase, int done, int total, bool force) {
      const auto now = Clock::now();
      if (!force && now - last_post < std::chrono::milliseconds(interval_ms)) return;
      last_post = now;
      QMetaObject::invokeMethod(
          this,
          [this, id, phase, done, total] {
            if (id == job_id_) emit progress(phase, done, total);
          },
          Qt::QueuedConnection);
    };

    RaceResult res;
    QString error;
    bool was_cancelled = false;
    try {
      // Everything that can be checked without a model first: a bad tree
      // fails before anything is loaded or run.
      const SpecConfig cfg = spec_config(req.spec);
      req.sampling.validate();
      if (req.max_tokens < 1) fail("--max-tokens", "must be >= 1 for a race");
      if (req.threads < 1 || req.threads > 256) fail("", "threads must be between 1 and 256");
      if (req.target_dir.trimmed().isEmpty()) fail("", "no target model: choose a target model directory");
      if (req.draft_dir.trimmed().isEmpty()) fail("--draft", "no draft model: choose a draft model directory");
      res.greedy = req.sampling.greedy();
      res.tree = QString::fromStdString(cfg.tree.describe());

      post_progress(QStringLiteral("loading"), 0, 2, true);
      const std::string tdir = QFile::encodeName(req.target_dir).toStdString();
      std::shared_ptr<MambaModel> target = MambaModel::load(tdir);
      target->set_threads(req.threads);
      std::shared_ptr<const Tokenizer> tok = load_tokenizer_for_model(tdir);
      post_progress(QStringLiteral("loading"), 1, 2, true);
      std::shared_ptr<MambaModel> draft = MambaModel::load(QFile::encodeName(req.draft_dir).toStdString());
      draft->set_threads(req.threads);

      const QByteArray utf8 = req.prompt.toUtf8();
      const std::vector<int32_t> prompt = tok->encode(std::string_view(utf8.data(), utf8.size()));
      GenerateOptions opt;
      opt.max_tokens = req.max_tokens;
      opt.sampling = req.sampling;
      opt.stop_at_eos = true;

      // A few untimed tokens of each first, so neither lane pays for cold
      // caches and first-touch allocations alone.
      {
        GenerateOptions warm = opt;
        warm.max_tokens = std::min(opt.max_tokens, 8);
        sm::generate(*target, *tok, prompt, warm, {}, &cancel_);
        spec_generate(*target, *draft, *tok, prompt, warm, cfg, nullptr, TokenCallback{}, &cancel_);
      }

      std::vector<double> abs;
      abs.reserve(static_cast<size_t>(req.max_tokens));

      // Lane 1: the target alone.
      const QString plain_phase = QStringLiteral("target-only");
      post_progress(plain_phase, 0, req.max_tokens, true);
      RaceLane& plain = res.plain;
      plain.tokens.reserve(static_cast<size_t>(req.max_tokens));
      auto on_plain = [&](int32_t tid, const std::string& bytes) {
        abs.push_back(now_seconds());
        plain.tokens.push_back({tid, bytes_of(bytes), 0.0, false});
        post_progress(plain_phase, int(plain.tokens.size()), req.max_tokens, false);
      };
      const GenerateResult pr = sm::generate(*target, *tok, prompt, opt, on_plain, &cancel_);
      finish_times(plain, abs);
      plain.prefill_s = pr.stats.prefill_seconds;
      plain.decode_s = pr.stats.decode_seconds;
      plain.tokens_per_second = pr.stats.decode_tokens_per_second();
      plain.steps = static_cast<int>(pr.stats.decode_steps);
      plain.tokens_per_pass = plain.steps > 0 ? 1.0 : 0.0;
      post_progress(plain_phase, int(plain.tokens.size()), req.max_tokens, true);

      if (pr.stats.cancelled || cancel_) {
        was_cancelled = true;
      } else {
        // Lane 2: speculative, only after the first has finished.
        abs.clear();
        const QString spec_phase = QStringLiteral("speculative");
        post_progress(spec_phase, 0, req.max_tokens, true);
        RaceLane& spec = res.spec;
        spec.tokens.reserve(static_cast<size_t>(req.max_tokens));
        auto on_spec = [&](int32_t tid, const std::string& bytes, const SpecTokenInfo& info) {
          abs.push_back(now_seconds());
          spec.tokens.push_back({tid, bytes_of(bytes), 0.0, info.draft});
          post_progress(spec_phase, int(spec.tokens.size()), req.max_tokens, false);
        };
        // No event sink: the race measures decoding, not tracing.
        const SpecGenerateResult sr = spec_generate(*target, *draft, *tok, prompt, opt, cfg, nullptr,
                                                    SpecTokenCallback(on_spec), &cancel_);
        finish_times(spec, abs);
        spec.prefill_s = sr.gen.stats.prefill_seconds;
        spec.decode_s = sr.gen.stats.decode_seconds;
        spec.tokens_per_second = sr.gen.stats.decode_tokens_per_second();
        spec.steps = static_cast<int>(sr.spec.steps);
        spec.tokens_per_pass = sr.spec.tokens_per_pass();
        post_progress(spec_phase, int(spec.tokens.size()), req.max_tokens, true);
        was_cancelled = sr.gen.stats.cancelled || cancel_;
        res.same_output = plain.tokens.size() == spec.tokens.size() &&
                          std::equal(plain.tokens.begin(), plain.tokens.end(), spec.tokens.begin(),
                                     [](const RaceToken& a, const RaceToken& b) { return a.id == b.id; });
      }
    } catch (...) {
      error = what_of(std::current_exception());
    }
    QMetaObject::invokeMethod(
        this,
        [this, id, res = std::move(res), error, was_cancelled] {
          if (id != job_id_) return;  // cancelled and superseded
          endJob(id);
          if (!error.isEmpty())
            emit failed(guiMessage(error));
          else if (was_cancelled)
            emit cancelled();
          else
            emit finished(res);
        },
        Qt::QueuedConnection);
  });
  return true;
}

void RaceWorker::endJob(uint64_t) {
  joinThread();
  busy_ = false;
}

void RaceWorker::stop() { cancel_ = true; }

void RaceWorker::cancelAndWait() {
  cancel_ = true;
  joinThread();
  if (busy_) {
    ++job_id_;  // results already posted by the job are now stale
    busy_ = false;
  }
}

void RaceWorker::joinThread() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace sm::ui
