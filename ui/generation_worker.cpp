// SPDX-License-Identifier: Apache-2.0
// core/spec_decoder.h (via spec_emitter.h / tree_verifier.h) uses the names
// `emit` and `slots`, which Qt defines as macros: include it before any Qt header.
#include "accel/backends.h"
#include "accel/dataflow/pipeline_trace.h"
#include "core/model/evaluator.h"
#include "core/quant/quant_config.h"
#include "core/spec/spec_decoder.h"
#include "ui/models/design_fit.h"
#include "ui/workers/draft_proposals.h"
#include "ui/workers/quant_cache.h"

#include "ui/generation_worker.h"

#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/io/model_config.h"
#include "core/tokenizer/tokenizer.h"
#include "core/trace/spec_events.h"
#include "ui/models/run_record.h"
#include "ui/workers/job_support.h"

namespace sm::ui {

namespace {

// A target-only run has no event stream; its record carries the settings and
// figures (the run list's baseline) in the same metadata keys as a trace.
RunRecord plain_run_record(const GenerationRequest& req, const QString& model_path,
                           const GenerateResult& r, const std::vector<int32_t>& prompt,
                           std::shared_ptr<const Tokenizer> tok, int threads, const TraceMetadata& extra) {
  TraceMetadata m = {{"target", model_path.toStdString()},
                     {"threads", std::to_string(threads)},
                     {"prompt", req.prompt.toStdString()},
                     {"temperature", std::to_string(req.sampling.temperature)},
                     {"top_k", std::to_string(req.sampling.top_k)},
                     {"top_p", std::to_string(req.sampling.top_p)},
                     {"seed", std::to_string(req.sampling.seed)},
                     {"max_tokens", std::to_string(req.max_tokens)},
                     {"prompt_tokens", std::to_string(prompt.size())},
                     {"prompt_ids", format_id_list(prompt)},
                     {"generated_ids", format_id_list(r.ids)},
                     {"prefill_us", std::to_string(r.stats.prefill_seconds * 1e6)},
                     {"decode_seconds", std::to_string(r.stats.decode_seconds)},
                     {"stop_reason", r.stats.stop_reason}};
  m.insert(m.end(), extra.begin(), extra.end());
  return build_run_record({}, std::move(m), std::move(tok));
}

ModelInfo describe(const MambaModel& m, const Tokenizer& tok, const QString& path) {
  const ModelConfig& c = m.config();
  ModelInfo info;
  info.path = path;
  info.arch = QString::fromUtf8(arch_name(c.arch));
  info.n_layer = c.n_layer;
  info.d_model = c.d_model;
  info.d_state = c.d_state;
  info.vocab_size = c.vocab_size;
  info.parameters = m.weights().parameter_count;
  info.weight_bytes = m.weights().bytes;
  info.state_bytes = m.state_bytes();
  info.tokenizer = QString::fromStdString(tok.name());
  info.threads = m.threads();
  info.quantization = QString::fromStdString(m.weights().quant.summary());
  return info;
}

}  // namespace

QString guiMessage(const QString& core_message) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"--tree", "Tree"}, {"--verify", "Verify"},     {"--backtrack", "Backtrack"},
      {"--budget", "Budget"}, {"--tile", "Tile"},     {"--draft", "Draft"},
      {"--max-tokens", "Max tokens"}, {"--temperature", "Temperature"},
      {"--top-k", "Top-k"}, {"--top-p", "Top-p"}, {"--seed", "Seed"}};
  QString m = core_message;
  for (const auto& [flag, field] : kFields)
    m.replace(QRegularExpression(QStringLiteral("%1\\b").arg(QRegularExpression::escape(QString::fromLatin1(flag)))),
              QString::fromLatin1(field));
  m.replace(QStringLiteral("give some text or token ids"), QStringLiteral("type some text"));
  return m;
}

QString checkRequest(const GenerationRequest& request) {
  if (request.max_tokens < 0) return QStringLiteral("Max tokens must be >= 0");
  try {
    request.sampling.validate();
    if (request.spec.enabled) {
      spec_config(request.spec);
      if (request.spec.draft_path.trimmed().isEmpty())
        return QStringLiteral("no draft model: choose a draft model directory or turn speculative decoding off");
    }
    if (request.quant.enabled)
      (void)quant::QuantConfig::from_json_string(request.quant.config_json.toStdString(), "Quantization");
    if (!request.heldout_path.isEmpty() && !QFileInfo(request.heldout_path).isFile())
      return QStringLiteral("Held-out text: %1 is not a file").arg(request.heldout_path);
  } catch (const std::exception& e) {
    return guiMessage(QString::fromUtf8(e.what()));
  }
  return {};
}

GenerationWorker::GenerationWorker(QObject* parent) : QObject(parent) {
  qRegisterMetaType<sm::ui::ModelInfo>();
  qRegisterMetaType<sm::ui::TokenEvent>();
  qRegisterMetaType<sm::ui::TokenBatch>();
  qRegisterMetaType<sm::ui::GenerationSummary>();
  flush_timer_.setSingleShot(true);
  connect(&flush_timer_, &QTimer::timeout, this, &GenerationWorker::drainTokens);
}

GenerationWorker::~GenerationWorker() { cancelAndWait(); }

void GenerationWorker::start(Job job, std::function<void()> body) {
  joinThread();  // a finished job's thread may not be joined yet
  cancel_ = false;
  {
    std::lock_guard lock(pending_mu_);
    pending_.clear();
    flush_posted_ = false;
  }
  since_last_batch_.invalidate();
  job_ = job;
  thread_ = std::thread(std::move(body));
  emit busyChanged(true);
}

namespace {

// The device a run asks for; xrt takes its xclbin from SPECMAMBA_XCLBIN.
accel::OpenedDevice open_run_device(const QString& name) {
  if (name.isEmpty() || name == QStringLiteral("cpu")) return {nullptr, "cpu", ""};
  return accel::open_device({name.toStdString(), qEnvironmentVariable("SPECMAMBA_XCLBIN").toStdString(), 0});
}

// The held-out text's first `max_bytes` bytes (0: all), cut back to a line end.
std::string read_heldout(const QString& path, qint64 max_bytes) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) fail(QFile::encodeName(path).toStdString(), "cannot open the held-out text");
  QByteArray b = max_bytes > 0 ? f.read(max_bytes) : f.readAll();
  if (max_bytes > 0 && b.size() == max_bytes) {
    const qsizetype nl = b.lastIndexOf('\n');
    if (nl > 0) b.truncate(nl + 1);
  }
  if (b.isEmpty()) fail(QFile::encodeName(path).toStdString(), "the held-out text is empty");
  return b.toStdString();
}

// A tree as widths per depth for the dataflow model: exact for width trees,
// rounded up for explicit path lists.
accel::TreeShape accel_tree(const TreeShape& t) {
  accel::TreeShape a;
  const std::vector<int32_t> levels = t.level_sizes();
  for (size_t d = 1; d < levels.size(); ++d)
    a.widths.push_back(int((levels[d] + levels[d - 1] - 1) / levels[d - 1]));
  return a;
}

// The per-token acceptance rate at which the dataflow model's chain formula
// gives the measured mean accepted tokens on this tree (bisection; it grows
// monotonically with the rate).
accel::Acceptance acceptance_for(const accel::TreeShape& t, double mean_accepted) {
  accel::Acceptance a;
  a.source = "measured mean accepted";
  double lo = 0, hi = 1;
  for (int i = 0; i < 60; ++i) {
    a.rate = (lo + hi) / 2;
    (a.expected_accepted(t) < mean_accepted ? lo : hi) = a.rate;
  }
  a.rate = (lo + hi) / 2;
  return a;
}

}  // namespace

bool GenerationWorker::loadModel(const QString& dir, int threads) {
  if (isBusy()) {
    emit errorOccurred(tr("cannot load %1: a job is still running").arg(dir));
    return false;
  }
  const uint64_t id = ++job_id_;
  const std::string path = QFile::encodeName(dir).toStdString();
  emit loadStarted(dir);
  start(Job::Load, [this, id, path, dir, threads] {
    std::shared_ptr<MambaModel> model;
    std::shared_ptr<const Tokenizer> tok;
    ModelInfo info;
    QString error;
    try {
      if (threads < 1 || threads > 256) fail("", "threads must be between 1 and 256");
      model = MambaModel::load(path);
      model->set_threads(threads);
      tok = load_tokenizer_for_model(path);
      info = describe(*model, *tok, dir);
    } catch (...) {
      error = what_of(std::current_exception());
      model.reset();
    }
    QMetaObject::invokeMethod(
        this,
        [this, id, model, tok, info, error] {
          if (id != job_id_) return;  // cancelled and superseded
          finishJob(id);
          if (!error.isEmpty()) {
            emit errorOccurred(guiMessage(error));
            return;
          }
          model_ = model;
          tokenizer_ = tok;
          info_ = info;
          emit modelLoaded(info_);
        },
        Qt::QueuedConnection);
  });
  return true;
}

bool GenerationWorker::generate(const GenerationRequest& request) {
  if (isBusy()) {
    emit errorOccurred(tr("cannot generate: a job is still running"));
    return false;
  }
  if (!model_ || !tokenizer_) {
    emit errorOccurred(tr("no model is loaded: load a model directory first"));
    return false;
  }
  const uint64_t id = ++job_id_;
  const bool spec = request.spec.enabled;
  // The draft is reused while its path (and the thread count) stays the same.
  std::shared_ptr<MambaModel> draft;
  if (spec && draft_ && draft_path_ == request.spec.draft_path &&
      draft_->threads() == model_->threads() && !request.quant.enabled)
    draft = draft_;
  start(Job::Generate, [this, id, spec, draft, model = model_, tok = tokenizer_, request,
                        model_path = info_.path]() mutable {
    GenerationSummary s;
    QString error;
    try {
      // On a device, fresh copies of the models are bound to it (binding is
      // for good); the CPU copies stay loaded for the next cpu run.
      const accel::OpenedDevice dev = open_run_device(request.device);
      s.device = QString::fromStdString(dev.backend);
      s.device_note = QString::fromStdString(dev.fallback);
      // Tuner runs with a quantization: quantized copies from the cache
      // (made first when missing) replace the loaded fp32 models.
      QString target_dir = model_path, draft_dir = request.spec.draft_path;
      std::optional<quant::QuantConfig> qcfg;
      if (request.quant.enabled) {
        if (spec) (void)spec_config(request.spec);  // a bad tree fails before minutes of quantizing
        const int stages = spec ? 2 : 1;
        postProgress(id, tr("Quantizing the target"), 0, stages);
        const std::string tcfg =
            config_for_model(request.quant.config_json.toStdString(), request.quant.auto_group,
                             QFile::encodeName(model_path).toStdString());
        const QuantizedModel qt = ensure_quantized(model_path, tcfg);
        target_dir = qt.dir;
        qcfg = quant::QuantConfig::from_json_string(tcfg, "quantization");
        s.quantization = QString::fromStdString(qt.summary);
        if (cancel_) fail("", "cancelled while quantizing");
        if (spec) {
          postProgress(id, tr("Quantizing the draft"), 1, stages);
          const std::string dcfg = config_for_model(request.quant.config_json.toStdString(), request.quant.auto_group,
                                                    QFile::encodeName(draft_dir).toStdString());
          draft_dir = ensure_quantized(draft_dir, dcfg).dir;
          if (cancel_) fail("", "cancelled while quantizing");
        }
        postProgress(id, tr("Quantized"), stages, stages);
        draft.reset();
      }
      if (dev.device || request.quant.enabled) {
        auto bound = std::shared_ptr<MambaModel>(MambaModel::load(QFile::encodeName(target_dir).toStdString()));
        bound->set_threads(model->threads());
        if (dev.device) bound->use_device(dev.device);
        model = std::move(bound);
        draft.reset();
      }
      if (s.quantization.isEmpty()) s.quantization = QString::fromStdString(model->weights().quant.summary());
      TraceMetadata extra = {{"device", s.device.toStdString()},
                             {"quantization", s.quantization.toStdString()}};
      // Bits per byte of the run's target on the held-out text, after the
      // generation so it does not disturb the measured rate.
      auto measure_bpb = [&] {
        if (request.heldout_path.isEmpty()) return;
        const std::string text = read_heldout(request.heldout_path, request.heldout_bytes);
        const EvalResult ev = sm::evaluate(
            *model, *tok, text, 512,
            [&](int64_t done, int64_t all) { postProgress(id, tr("Bits per byte"), done, all); }, &cancel_);
        if (ev.cancelled) return;
        s.bpb = ev.bpb;
        extra.push_back({"bpb", std::to_string(ev.bpb)});
        extra.push_back({"bpb_text", QFileInfo(request.heldout_path).fileName().toStdString() + " (" +
                                         std::to_string(ev.bytes + 1) + " bytes)"});
      };
      const QByteArray utf8 = request.prompt.toUtf8();
      const std::vector<int32_t> prompt = tok->encode(std::string_view(utf8.data(), utf8.size()));
      GenerateOptions opt;
      opt.max_tokens = request.max_tokens;
      opt.sampling = request.sampling;
      opt.stop_at_eos = request.stop_at_eos;
      opt.sampling.validate();
      s.prompt_ids = QVector<int32_t>(prompt.begin(), prompt.end());

      const double t0 = now_seconds();
      double prev = t0;
      int index = 0;
      auto on_token = [&](int32_t tid, const std::string& bytes) {
        const double t = now_seconds();
        TokenEvent ev;
        ev.id = tid;
        ev.bytes = QByteArray(bytes.data(), static_cast<qsizetype>(bytes.size()));
        ev.index = index++;
        ev.latency_ms = (t - prev) * 1e3;
        ev.elapsed_s = t - t0;
        prev = t;
        pushToken(id, std::move(ev));
      };
      GenerateResult r;
      std::shared_ptr<RunRecord> record;
      if (!spec) {
        r = sm::generate(*model, *tok, prompt, opt, on_token, &cancel_);
        if (!r.stats.cancelled) measure_bpb();
        record = std::make_shared<RunRecord>(
            plain_run_record(request, model_path, r, prompt, tok, model->threads(), extra));
      } else {
        // Configuration first: a bad shape fails before any draft is loaded.
        const SpecConfig cfg = spec_config(request.spec);
        if (prompt.empty()) fail("", "the prompt is empty: type some text");
        for (int32_t p : prompt) model->check_token(p);
        if (!draft) {
          if (request.spec.draft_path.trimmed().isEmpty())
            fail("", "no draft model: choose a draft model directory or turn speculative decoding off");
          draft = MambaModel::load(QFile::encodeName(draft_dir).toStdString());
          draft->set_threads(model->threads());
          if (model->device()) draft->use_device(model->weights().device);  // the target's device
        }
        MemoryEventSink sink;
        sink.add_metadata("target", model_path.toStdString());
        sink.add_metadata("draft", request.spec.draft_path.toStdString());
        sink.add_metadata("threads", std::to_string(model->threads()));
        sink.add_metadata("prompt", request.prompt.toStdString());
        auto on_spec_token = [&](int32_t tid, const std::string& bytes, const SpecTokenInfo& info) {
          const double t = now_seconds();
          TokenEvent ev;
          ev.id = tid;
          ev.bytes = QByteArray(bytes.data(), static_cast<qsizetype>(bytes.size()));
          ev.index = index++;
          ev.latency_ms = (t - prev) * 1e3;
          ev.elapsed_s = t - t0;
          ev.step = info.step;
          ev.draft = info.draft;
          ev.step_tokens = info.step_tokens;
          ev.step_ms = info.step_ms;
          prev = t;
          pushToken(id, std::move(ev));
        };
        // On a device the dataflow model times every step (the pipeline events
        // join the record; the simulated tok/s goes into the summary).
        std::unique_ptr<accel::PipelineTraceSink> pipeline;
        if (model->device() || request.accel.simulate) {
          accel::PipelineTraceOptions so = accel::PipelineTraceOptions::defaults(
              request.accel.platform.isEmpty() ? std::string(accel::kDefaultSimPlatform)
                                               : request.accel.platform.toStdString());
          so.design = design_for(request.accel, so.platform, qcfg ? &*qcfg : nullptr);
          so.order = accel::parse_verify_order(verify_order_name(cfg.verify));
          so.backtrack = accel::parse_backtrack(backtrack_policy_name(cfg.backtrack));
          pipeline = std::make_unique<accel::PipelineTraceSink>(&sink, model->config(), draft->config(), so);
        }
        EventSink* events = pipeline ? static_cast<EventSink*>(pipeline.get()) : &sink;
        SpecGenerateResult sr =
            spec_generate(*model, *draft, *tok, prompt, opt, cfg, events, on_spec_token, &cancel_);
        if (pipeline) {
          pipeline->flush();
          s.sim_tokens_per_second = pipeline->totals().tokens_per_second();
          s.sim_device = QString::fromStdString(pipeline->describe());
          // Resources of the design and energy per token: the dataflow
          // model's power for this tree at the measured acceptance, over the
          // simulated time per token.
          const accel::PipelineTraceOptions& so = pipeline->options();
          const accel::Resources res = accel::estimate_resources(model->config(), so.design);
          extra.push_back({"design", design_text(so.design).toStdString()});
          extra.push_back({"resources_dsp", std::to_string(res.dsp)});
          extra.push_back({"resources_lut", std::to_string(res.lut)});
          extra.push_back({"resources_bram", std::to_string(res.bram)});
          extra.push_back({"resources_uram", std::to_string(res.uram)});
          try {
            accel::check_fit(res, so.platform);
          } catch (const std::exception& e) {
            s.fit_problem = QString::fromUtf8(e.what());
            extra.push_back({"fit_problem", e.what()});
          }
          if (s.fit_problem.isEmpty() && s.sim_tokens_per_second > 0) {
            const accel::TreeShape at = accel_tree(cfg.tree);
            // The reordering granularity is per model (the trace sink clamps it the same way).
            accel::Design dd = so.design;
            for (const ModelConfig* m : {&model->config(), &draft->config()})
              if (m->arch == Arch::Mamba2 && m->n_heads > 0) dd.head_groups = std::min(dd.head_groups, m->n_heads);
            const accel::SpecResult sim =
                accel::simulate_speculative(model->config(), draft->config(), dd, so.platform, at,
                                            acceptance_for(at, sr.spec.mean_accepted()), so.order, so.backtrack);
            s.energy_per_token_mj = sim.power_w / s.sim_tokens_per_second * 1e3;
            extra.push_back({"energy_per_token_mj", std::to_string(s.energy_per_token_mj)});
          }
        }
        r = std::move(sr.gen);
        const SpecStats& st = sr.spec;
        s.speculative = true;
        s.tree = QString::fromStdString(cfg.tree.describe());
        s.steps = st.steps;
        s.accepted = st.accepted;
        s.drafted = st.drafted;
        s.mean_accepted = st.mean_accepted();
        s.tokens_per_pass = st.tokens_per_pass();
        if (!r.stats.cancelled) {
          measure_bpb();
          // The draft's proposals along the output, for exact what-if re-scoring.
          extra.push_back({"draft_topk", format_proposals(draft_proposals(*draft, prompt, r.ids, cfg.tree.max_width()))});
        }
        for (const auto& [k, v] : extra) sink.add_metadata(k, v);
        // Built here, off the GUI thread: a long run has millions of events.
        record = std::make_shared<RunRecord>(build_run_record(sink.snapshot(), sink.metadata(), tok));
      }
      s.ids = QVector<int32_t>(r.ids.begin(), r.ids.end());
      s.text = QByteArray(r.text.data(), static_cast<qsizetype>(r.text.size()));
      s.prompt_tokens = r.stats.prompt_tokens;
      s.generated = r.stats.generated;
      s.prefill_seconds = r.stats.prefill_seconds;
      s.decode_seconds = r.stats.decode_seconds;
      s.decode_tokens_per_second = r.stats.decode_tokens_per_second();
      s.total_tokens_per_second = r.stats.total_tokens_per_second();
      s.cancelled = r.stats.cancelled;
      s.stop_reason = QString::fromStdString(r.stats.stop_reason);
      s.record = std::move(record);
    } catch (...) {
      error = what_of(std::current_exception());
    }
    QMetaObject::invokeMethod(
        this,
        [this, id, s, error, spec, draft, draft_path = request.spec.draft_path, quantized = request.quant.enabled] {
          if (id != job_id_) return;
          finishJob(id);
          if (spec && draft && !draft->device() && !quantized) {  // keep the loaded CPU draft for the next run
            draft_ = draft;
            draft_path_ = draft_path;
          }
          if (!error.isEmpty())
            emit errorOccurred(guiMessage(error));
          else
            emit generationFinished(s);
        },
        Qt::QueuedConnection);
  });
  emit generationStarted();
  return true;
}

void GenerationWorker::postProgress(uint64_t id, const QString& stage, qint64 done, qint64 total) {
  QMetaObject::invokeMethod(
      this,
      [this, id, stage, done, total] {
        if (id == job_id_) emit progressChanged(stage, done, total);
      },
      Qt::QueuedConnection);
}

void GenerationWorker::pushToken(uint64_t id, TokenEvent ev) {
  bool post = false;
  {
    std::lock_guard lock(pending_mu_);
    pending_.push_back(std::move(ev));
    post = !std::exchange(flush_posted_, true);
  }
  if (post)
    QMetaObject::invokeMethod(
        this, [this, id] { onTokensPending(id); }, Qt::QueuedConnection);
}

void GenerationWorker::finishJob(uint64_t) {
  joinThread();
  job_ = Job::None;
  flush_timer_.stop();
  drainTokens();  // everything streamed before the result
  emit busyChanged(false);
}

void GenerationWorker::onTokensPending(uint64_t id) {
  if (id != job_id_) return;
  if (since_last_batch_.isValid() && since_last_batch_.elapsed() < batch_interval_ms_) {
    if (!flush_timer_.isActive())
      flush_timer_.start(batch_interval_ms_ - static_cast<int>(since_last_batch_.elapsed()));
    return;
  }
  drainTokens();
}

void GenerationWorker::drainTokens() {
  TokenBatch batch;
  {
    std::lock_guard lock(pending_mu_);
    batch.swap(pending_);
    flush_posted_ = false;
  }
  if (batch.isEmpty()) return;
  since_last_batch_.restart();
  emit tokensArrived(batch);
}

void GenerationWorker::stop() { cancel_ = true; }

void GenerationWorker::cancelAndWait() {
  cancel_ = true;
  joinThread();
  flush_timer_.stop();
  {
    std::lock_guard lock(pending_mu_);
    pending_.clear();
    flush_posted_ = false;
  }
  if (job_ != Job::None) {
    ++job_id_;  // results already posted by the job are now stale
    job_ = Job::None;
    // Signals may reach a window that is being destroyed: keep this one quiet.
  }
}

void GenerationWorker::joinThread() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace sm::ui
