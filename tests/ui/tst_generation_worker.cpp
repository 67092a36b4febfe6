// SPDX-License-Identifier: Apache-2.0
// GenerationWorker on a tiny random model: streamed tokens equal direct
// sm::generate, Stop cancels quickly, bad input gives an error signal.
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

#include "core/io/default_paths.h"
#include "core/kernels/simd.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/quant/quantize_model.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/ui/worker_test_support.h"
#include "ui/generation_worker.h"

using sm::ui::GenerationRequest;
using sm::ui::GenerationSummary;
using sm::ui::GenerationWorker;
using sm::ui::TokenBatch;

class TestGenerationWorker : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void loadReportsModelInfo();
  void quantizedModelLoadsAndGeneratesItsOwnTokens();
  void quantizedModelOnEmuGivesTheCpuTokens();
  void fp32ModelOnEmuIsRefusedWithTheQuantizeHint();
  void greedyTokensMatchDirectGenerate();
  void tokensArriveInBatches();
  void stopEndsLongGenerationQuickly();
  void badModelDirGivesErrorWithPath();
  void emptyPromptGivesError();
  void generateWithoutModelGivesError();
  void secondJobWhileBusyIsRefused();
  void destroyingDuringGenerationJoins();

 private:
  // Loads the tiny model into `w`; returns false on failure.
  bool load(GenerationWorker& w);
  GenerationSummary run(GenerationWorker& w, const GenerationRequest& req, TokenBatch* streamed);

  QTemporaryDir dir_;
  QString model_;
};

void TestGenerationWorker::initTestCase() {
  QVERIFY(dir_.isValid());
  model_ = dir_.filePath(QStringLiteral("tiny"));
  sm::write_random_model(model_.toStdString(), sm::random_model_preset("tiny-mamba2"));
}

bool TestGenerationWorker::load(GenerationWorker& w) { return worker_test::load(w, model_); }

GenerationSummary TestGenerationWorker::run(GenerationWorker& w, const GenerationRequest& req,
                                 TokenBatch* streamed) {
  return worker_test::run(w, req, streamed);
}

void TestGenerationWorker::loadReportsModelInfo() {
  GenerationWorker w;
  QSignalSpy busy(&w, &GenerationWorker::busyChanged);
  QVERIFY(load(w));
  QCOMPARE(w.modelInfo().arch, QStringLiteral("mamba2"));
  QVERIFY(w.modelInfo().n_layer > 0);
  QVERIFY(w.modelInfo().d_model > 0);
  QVERIFY(w.modelInfo().parameters > 0);
  QCOMPARE(w.modelInfo().tokenizer, QStringLiteral("bytes"));
  QCOMPARE(busy.size(), 2);  // true, then false
  QCOMPARE(busy.at(0).at(0).toBool(), true);
  QCOMPARE(busy.at(1).at(0).toBool(), false);
}

// The Studio opens a `specmamba quantize` output like any model and runs it
// with the same integer kernels as the CLI.
void TestGenerationWorker::quantizedModelLoadsAndGeneratesItsOwnTokens() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const QString q = dir.filePath(QStringLiteral("w4a4"));
  const std::string src = sm::default_target_model();  // PoT SSM: Mamba-2 with n_groups 1
  if (!QFileInfo::exists(QString::fromStdString(src + "/config.json"))) QSKIP("shipped target not present");
  sm::quant::QuantConfig cfg = sm::quant::QuantConfig::preset("w4a4", true);
  cfg.linear_weights.group = cfg.lm_head_weights.group = int(sm::quant::default_weight_group(src));
  sm::quant::quantize_model(src, q.toStdString(), cfg);
  GenerationWorker w;
  QVERIFY(worker_test::load(w, q));
  QVERIFY2(w.modelInfo().quantization.startsWith(QStringLiteral("w4a4 + rotation")),
           qPrintable(w.modelInfo().quantization));
  QVERIFY(w.modelInfo().summary().contains(QStringLiteral("w4a4")));
  GenerationRequest req;
  req.prompt = QStringLiteral("And God said");
  req.max_tokens = 16;
  req.sampling = {};
  const GenerationSummary s = run(w, req, nullptr);
  QCOMPARE(s.generated, int64_t{16});
  auto model = sm::MambaModel::load(q.toStdString());
  auto tok = sm::load_tokenizer_for_model(q.toStdString());
  sm::GenerateOptions opt;
  opt.max_tokens = 16;
  const sm::GenerateResult direct = sm::generate(*model, *tok, tok->encode("And God said"), opt);
  QCOMPARE(s.ids, QVector<int32_t>(direct.ids.begin(), direct.ids.end()));
}

// The device combo's runs: emu (and xrt, which falls back to emu without a
// board, saying why) give the CPU's tokens, plain and speculative.
void TestGenerationWorker::quantizedModelOnEmuGivesTheCpuTokens() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string t = sm::default_target_model(), d = sm::default_draft_model();
  if (!QFileInfo::exists(QString::fromStdString(t + "/config.json"))) QSKIP("shipped models not present");
  sm::simd::init_from_env();  // SPECMAMBA_SIMD caps the target before the first model loads
  if (sm::simd::target_name().rfind("AVX", 0) != 0) QSKIP("the CPU conv has no FMA on this SIMD target");
  sm::quant::QuantConfig cfg = sm::quant::QuantConfig::preset("w4a4", true);
  cfg.linear_weights.group = cfg.lm_head_weights.group = int(sm::quant::default_weight_group(t));
  const QString qt = dir.filePath(QStringLiteral("t")), qd = dir.filePath(QStringLiteral("d"));
  sm::quant::quantize_model(t, qt.toStdString(), cfg);
  sm::quant::quantize_model(d, qd.toStdString(), cfg);
  GenerationWorker w;
  QVERIFY(worker_test::load(w, qt));
  GenerationRequest req;
  req.prompt = QStringLiteral("And God said");
  req.max_tokens = 16;
  req.stop_at_eos = false;
  const GenerationSummary cpu = run(w, req, nullptr);
  QCOMPARE(cpu.device, QStringLiteral("cpu"));
  QCOMPARE(cpu.generated, int64_t{16});
  req.device = QStringLiteral("emu");
  const GenerationSummary emu = run(w, req, nullptr);
  QCOMPARE(emu.device, QStringLiteral("emu"));
  QVERIFY(emu.device_note.isEmpty());
  QCOMPARE(emu.ids, cpu.ids);
  req.spec.enabled = true;
  req.spec.draft_path = qd;
  req.spec.tree = QStringLiteral("2,2,1");
  const GenerationSummary spec = run(w, req, nullptr);
  QCOMPARE(spec.device, QStringLiteral("emu"));
  QCOMPARE(spec.ids, cpu.ids);
  QVERIFY(spec.sim_tokens_per_second > 0);  // the dataflow model timed the steps
  QVERIFY2(spec.sim_device.contains(QStringLiteral("vck190")), qPrintable(spec.sim_device));
  req.spec.enabled = false;
  req.device = QStringLiteral("xrt");
  const GenerationSummary xrt = run(w, req, nullptr);
  if (xrt.device == QStringLiteral("emu")) {  // no board here
    QVERIFY2(xrt.device_note.startsWith(QStringLiteral("xrt: ")), qPrintable(xrt.device_note));
    QCOMPARE(xrt.ids, cpu.ids);
  }
  req.device = QStringLiteral("cpu");  // and back: the CPU copy is still loaded
  QCOMPARE(run(w, req, nullptr).ids, cpu.ids);
}

void TestGenerationWorker::fp32ModelOnEmuIsRefusedWithTheQuantizeHint() {
  GenerationWorker w;
  QVERIFY(load(w));
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  GenerationRequest req;
  req.prompt = QStringLiteral("And");
  req.max_tokens = 4;
  req.device = QStringLiteral("emu");
  QVERIFY(w.generate(req));
  QVERIFY(error.wait(60000));
  QVERIFY2(error.first().first().toString().contains(QStringLiteral("quantize")),
           qPrintable(error.first().first().toString()));
  QTRY_VERIFY(!w.isBusy());
  req.device = QStringLiteral("cpu");
  QCOMPARE(run(w, req, nullptr).generated, int64_t{4});  // the model still runs on the CPU
}

void TestGenerationWorker::greedyTokensMatchDirectGenerate() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("In the beginning");
  req.max_tokens = 48;
  req.sampling = {};  // greedy
  TokenBatch streamed;
  const GenerationSummary s = run(w, req, &streamed);
  QCOMPARE(s.stop_reason, QStringLiteral("max_tokens"));
  QVERIFY(!s.cancelled);
  QCOMPARE(s.generated, int64_t{48});

  // The same run directly through core.
  auto model = sm::MambaModel::load(model_.toStdString());
  auto tok = sm::load_tokenizer_for_model(model_.toStdString());
  const std::vector<int32_t> prompt = tok->encode("In the beginning");
  sm::GenerateOptions opt;
  opt.max_tokens = 48;
  const sm::GenerateResult direct = sm::generate(*model, *tok, prompt, opt);

  QCOMPARE(s.prompt_ids, QVector<int32_t>(prompt.begin(), prompt.end()));
  QCOMPARE(s.ids, QVector<int32_t>(direct.ids.begin(), direct.ids.end()));
  QCOMPARE(s.text, QByteArray(direct.text.data(), direct.text.size()));

  // Streamed tokens: the same ids, in order, with their bytes and timings.
  QCOMPARE(streamed.size(), s.ids.size());
  QByteArray bytes;
  for (int i = 0; i < streamed.size(); ++i) {
    QCOMPARE(streamed[i].index, i);
    QCOMPARE(streamed[i].id, s.ids[i]);
    QVERIFY(streamed[i].latency_ms >= 0.0);
    if (i > 0) QVERIFY(streamed[i].elapsed_s >= streamed[i - 1].elapsed_s);
    bytes += streamed[i].bytes;
  }
  QCOMPARE(bytes, s.text);
}

void TestGenerationWorker::tokensArriveInBatches() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("abc");
  req.max_tokens = 1500;
  int batches = 0;
  connect(&w, &GenerationWorker::tokensArrived, this, [&batches](const TokenBatch&) { ++batches; });
  QElapsedTimer t;
  t.start();
  TokenBatch streamed;
  const GenerationSummary s = run(w, req, &streamed);
  const qint64 ms = t.elapsed();
  QCOMPARE(s.generated, int64_t{1500});
  QCOMPARE(streamed.size(), 1500);
  // At most one batch per 16 ms, plus the final drain.
  QVERIFY2(batches <= ms / 16 + 2, qPrintable(QStringLiteral("%1 batches in %2 ms").arg(batches).arg(ms)));
}

void TestGenerationWorker::stopEndsLongGenerationQuickly() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("Stop me");
  req.max_tokens = 100000;
  QSignalSpy tokens(&w, &GenerationWorker::tokensArrived);
  QSignalSpy finished(&w, &GenerationWorker::generationFinished);
  QVERIFY(w.generate(req));
  QVERIFY(w.isBusy());
  QVERIFY(tokens.wait(30000));  // it is running
  QElapsedTimer t;
  t.start();
  w.stop();
  QVERIFY(finished.wait(10000));
  QVERIFY2(t.elapsed() < 5000, qPrintable(QString::number(t.elapsed())));
  const auto s = finished.first().first().value<GenerationSummary>();
  QCOMPARE(s.stop_reason, QStringLiteral("cancelled"));
  QVERIFY(s.cancelled);
  QVERIFY(s.generated > 0);
  QVERIFY(s.generated < 100000);
  QVERIFY(!w.isBusy());
}

void TestGenerationWorker::badModelDirGivesErrorWithPath() {
  GenerationWorker w;
  const QString bad = dir_.filePath(QStringLiteral("no-such-model"));
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  QSignalSpy loaded(&w, &GenerationWorker::modelLoaded);
  QVERIFY(w.loadModel(bad, 1));
  QVERIFY(error.wait(30000));
  const QString msg = error.first().first().toString();
  QVERIFY2(msg.contains(bad), qPrintable(msg));
  QVERIFY(loaded.isEmpty());
  QVERIFY(!w.hasModel());
  QVERIFY(!w.isBusy());

  // A directory that exists but holds no model.
  QTemporaryDir empty;
  error.clear();
  QVERIFY(w.loadModel(empty.path(), 1));
  QVERIFY(error.wait(30000));
  QVERIFY2(error.first().first().toString().contains(empty.path()),
           qPrintable(error.first().first().toString()));
}

void TestGenerationWorker::emptyPromptGivesError() {
  GenerationWorker w;
  QVERIFY(load(w));
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  QSignalSpy finished(&w, &GenerationWorker::generationFinished);
  GenerationRequest req;
  req.prompt = QString();
  QVERIFY(w.generate(req));
  QVERIFY(error.wait(30000));
  QVERIFY2(error.first().first().toString().contains(QStringLiteral("prompt")),
           qPrintable(error.first().first().toString()));
  QVERIFY(finished.isEmpty());
  QVERIFY(!w.isBusy());

  // Bad sampling parameters are reported the same way.
  error.clear();
  req.prompt = QStringLiteral("x");
  req.sampling.top_p = 0.0f;
  QVERIFY(w.generate(req));
  QVERIFY(error.wait(30000));
  QVERIFY(error.first().first().toString().contains(QStringLiteral("top-p")));
}

void TestGenerationWorker::generateWithoutModelGivesError() {
  GenerationWorker w;
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  GenerationRequest req;
  req.prompt = QStringLiteral("x");
  QVERIFY(!w.generate(req));
  QCOMPARE(error.size(), 1);
  QVERIFY(!w.isBusy());
}

void TestGenerationWorker::secondJobWhileBusyIsRefused() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("busy");
  req.max_tokens = 100000;
  QSignalSpy finished(&w, &GenerationWorker::generationFinished);
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  QVERIFY(w.generate(req));
  QVERIFY(!w.generate(req));
  QVERIFY(!w.loadModel(model_, 1));
  QCOMPARE(error.size(), 2);
  w.stop();
  QVERIFY(finished.wait(30000));
  QCOMPARE(finished.size(), 1);
}

void TestGenerationWorker::destroyingDuringGenerationJoins() {
  auto w = std::make_unique<GenerationWorker>();
  QVERIFY(load(*w));
  GenerationRequest req;
  req.prompt = QStringLiteral("bye");
  req.max_tokens = 100000;
  QSignalSpy tokens(w.get(), &GenerationWorker::tokensArrived);
  QVERIFY(w->generate(req));
  QVERIFY(tokens.wait(30000));
  QElapsedTimer t;
  t.start();
  w.reset();  // cancels and joins
  QVERIFY(t.elapsed() < 5000);
  QTest::qWait(50);  // queued results of the dead worker are dropped, not delivered
}

QTEST_GUILESS_MAIN(TestGenerationWorker)
#include "tst_generation_worker.moc"
