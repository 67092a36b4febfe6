// SPDX-License-Identifier: Apache-2.0
// "Dump current prompt" in its worker, on the shipped Mamba-2 target: a dump
// that DumpReader opens, with /tokens of the prompt plus the generated tokens
// but the last; stop() mid-run ends in cancelled() and leaves neither PATH nor
// PATH.tmp; a bad model directory fails; a second start while busy is refused.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include "core/dump/dump_reader.h"
#include "core/tokenizer/tokenizer.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <string>
#include <vector>

#include "ui/workers/dump_job.h"

using namespace sm::ui;

namespace {

QString shippedTarget() { return QDir::cleanPath(QStringLiteral(SPECMAMBA_TEST_DATA "/../../data/models/mamba2-target")); }

const QString kPrompt = QStringLiteral("And God said");

// A greedy run of the shipped target with the test's prompt into `out`.
DumpJobRequest request(const QString& out, int max_tokens) {
  DumpJobRequest r;
  r.model_dir = shippedTarget();
  r.prompt = kPrompt;
  r.out_path = out;
  r.max_tokens = max_tokens;
  return r;
}

}  // namespace

class TestDumpJob : public QObject {
  Q_OBJECT

 private slots:
  void init() { QVERIFY(dir_.isValid()); }
  void writesADumpThatOpens();
  void stopMidRunLeavesNoFile();
  void badModelDirFails();
  void secondStartWhileBusyIsRefused();

 private:
  QTemporaryDir dir_;
};

void TestDumpJob::writesADumpThatOpens() {
  const QString out = dir_.filePath(QStringLiteral("run.h5"));
  DumpJob job;
  QSignalSpy finished(&job, &DumpJob::finished);
  QSignalSpy failed(&job, &DumpJob::failed);
  DumpJobRequest r = request(out, 8);
  r.layers = QStringLiteral("0,2-3");
  QVERIFY(job.start(r));
  QVERIFY(job.isBusy());
  QVERIFY(finished.wait(60000));
  QCOMPARE(failed.count(), 0);
  QVERIFY(!job.isBusy());
  QCOMPARE(finished.first().at(0).toString(), out);
  const qint64 tokens_run = finished.first().at(1).toLongLong();
  const qint64 rows = finished.first().at(2).toLongLong();

  const auto tok = sm::load_tokenizer_for_model(QFile::encodeName(r.model_dir).toStdString());
  const std::vector<int32_t> prompt = tok->encode(kPrompt.toStdString());
  QVERIFY(!prompt.empty());
  // The prompt, then each generated token but the last (sampled, never fed back).
  QCOMPARE(tokens_run, qint64(prompt.size() + 8 - 1));
  QCOMPARE(rows, tokens_run);
  QVERIFY(QFile::exists(out));
  QVERIFY(!QFile::exists(out + QStringLiteral(".tmp")));
  const sm::DumpReader d(QFile::encodeName(out).toStdString());
  const std::vector<int32_t> ids = d.tokens();
  QCOMPARE(qint64(ids.size()), tokens_run);
  QCOMPARE(std::vector<int32_t>(ids.begin(), ids.begin() + prompt.size()), prompt);
  QCOMPARE(qint64(d.token_index().size()), rows);
  QCOMPARE(d.layers(), (std::vector<int>{0, 2, 3}));
  QCOMPARE(d.info("/layers/2/hidden_in").rows(), rows);
  QCOMPARE(d.info("/layers/2/hidden_in").cols(), int64_t(192));
  QCOMPARE(d.attributes().model, QFile::encodeName(r.model_dir).toStdString());
  QVERIFY(!d.has("/logits"));
}

void TestDumpJob::stopMidRunLeavesNoFile() {
  const QString out = dir_.filePath(QStringLiteral("stopped.h5"));
  DumpJob job;
  QSignalSpy progress(&job, &DumpJob::progress);
  QSignalSpy cancelled(&job, &DumpJob::cancelled);
  QSignalSpy finished(&job, &DumpJob::finished);
  QSignalSpy failed(&job, &DumpJob::failed);
  DumpJobRequest r = request(out, 100000);  // far more than the test waits for
  QVERIFY(job.start(r));
  QVERIFY(progress.wait(60000));
  QVERIFY(progress.first().at(0).toInt() > 0);
  QCOMPARE(progress.first().at(1).toInt(), 100000);
  QVERIFY(QFile::exists(out + QStringLiteral(".tmp")));  // mid-run: the writer's temporary file
  job.stop();
  QVERIFY(cancelled.wait(30000));
  QCOMPARE(finished.count(), 0);
  QCOMPARE(failed.count(), 0);
  QVERIFY(!job.isBusy());
  QVERIFY(!QFile::exists(out));
  QVERIFY(!QFile::exists(out + QStringLiteral(".tmp")));
}

void TestDumpJob::badModelDirFails() {
  const QString out = dir_.filePath(QStringLiteral("bad.h5"));
  DumpJob job;
  QSignalSpy failed(&job, &DumpJob::failed);
  QSignalSpy finished(&job, &DumpJob::finished);
  DumpJobRequest r;
  r.model_dir = dir_.filePath(QStringLiteral("no-such-model"));
  r.prompt = kPrompt;
  r.out_path = out;
  QVERIFY(job.start(r));
  QVERIFY(failed.wait(30000));
  const QString msg = failed.first().first().toString();
  QVERIFY2(msg.contains(QStringLiteral("no-such-model")), qPrintable(msg));
  QCOMPARE(finished.count(), 0);
  QVERIFY(!job.isBusy());
  QVERIFY(!QFile::exists(out));
  QVERIFY(!QFile::exists(out + QStringLiteral(".tmp")));

  // A layer the model lacks names the option.
  r.model_dir = shippedTarget();
  r.layers = QStringLiteral("0,9");
  QVERIFY(job.start(r));
  QVERIFY(failed.wait(30000));
  QVERIFY2(failed.last().first().toString().contains(QStringLiteral("--dump-layers")),
           qPrintable(failed.last().first().toString()));
  QVERIFY(!QFile::exists(out));
}

void TestDumpJob::secondStartWhileBusyIsRefused() {
  const QString out = dir_.filePath(QStringLiteral("first.h5"));
  const QString other = dir_.filePath(QStringLiteral("second.h5"));
  DumpJob job;
  QSignalSpy failed(&job, &DumpJob::failed);
  QSignalSpy cancelled(&job, &DumpJob::cancelled);
  QSignalSpy finished(&job, &DumpJob::finished);
  DumpJobRequest r = request(out, 100000);
  QVERIFY(job.start(r));
  DumpJobRequest r2 = r;
  r2.out_path = other;
  r2.max_tokens = 2;
  QVERIFY(!job.start(r2));
  QCOMPARE(failed.count(), 1);
  QVERIFY2(failed.first().first().toString().contains(QStringLiteral("already")),
           qPrintable(failed.first().first().toString()));
  QVERIFY(job.isBusy());  // the first job runs on
  job.stop();
  QVERIFY(cancelled.wait(30000));
  QCOMPARE(finished.count(), 0);
  QVERIFY(!QFile::exists(other) && !QFile::exists(other + QStringLiteral(".tmp")));
  QVERIFY(!QFile::exists(out) && !QFile::exists(out + QStringLiteral(".tmp")));
  // Idle again: a new start is accepted and completes.
  QVERIFY(job.start(r2));
  QVERIFY(finished.wait(60000));
  QVERIFY(QFile::exists(other));
}

QTEST_MAIN(TestDumpJob)
#include "tst_dump_job.moc"
