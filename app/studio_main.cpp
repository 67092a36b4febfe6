// SPDX-License-Identifier: Apache-2.0
// specmamba-studio [MODEL] [--prompt TEXT] [--max-tokens N] [--temperature T]
//                  [--top-k K] [--top-p P] [--seed S] [--threads N] [--run]
//                  [--draft DIR] [--tree SHAPE] [--screenshot PATH]
// Opens the main window on MODEL (default: the shipped target model). With
// --draft (or --tree, which then uses the shipped draft) runs use tree
// speculative decoding with that draft model and tree shape. With
// --run or --prompt it generates as soon as the model is loaded; with
// --screenshot it then saves the window to PATH and exits (0 = the run
// succeeded), which is how the GUI is looked at on a headless machine.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

#include <cstdio>
#include <memory>
#include <string_view>

#include "core/kernels/simd.h"
#include "core/io/default_paths.h"
#include "core/model/sampler.h"
#include "ui/latency_chart.h"
#include "ui/main_window.h"
#include "ui/model_bar.h"
#include "ui/generation_panel.h"
#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"

namespace {

[[noreturn]] void usage_error(const QString& message) {
  std::fprintf(stderr, "specmamba-studio: %s\n", qPrintable(message));
  std::exit(2);
}

template <typename T, typename Conv>
T parse_number(const QCommandLineParser& p, const QString& name, T fallback, Conv conv) {
  if (!p.isSet(name)) return fallback;
  bool ok = false;
  const T v = conv(p.value(name), &ok);
  if (!ok) usage_error(QStringLiteral("--%1: '%2' is not a valid number").arg(name, p.value(name)));
  return v;
}

// --help and --version must work without a display: they get a core app.
bool wants_help_or_version(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (a == "-h" || a == "--help" || a == "-?" || a == "--help-all" || a == "-v" ||
        a == "--version")
      return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<QCoreApplication> app;
  if (wants_help_or_version(argc, argv))
    app = std::make_unique<QCoreApplication>(argc, argv);
  else
    app = std::make_unique<QApplication>(argc, argv);
  QCoreApplication::setApplicationName(QStringLiteral("specmamba-studio"));
  QCoreApplication::setOrganizationName(QStringLiteral("SpecMamba"));
  QCoreApplication::setApplicationVersion(QStringLiteral("0.1.0"));

  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("SpecMamba Studio: speculative decoding of Mamba language models."));
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument(QStringLiteral("MODEL"),
                               QStringLiteral("model directory (default: the shipped target)"),
                               QStringLiteral("[MODEL]"));
  const QCommandLineOption prompt_opt(QStringLiteral("prompt"),
                                      QStringLiteral("prompt text (implies --run)"),
                                      QStringLiteral("TEXT"));
  const QCommandLineOption max_tokens_opt(QStringLiteral("max-tokens"),
                                          QStringLiteral("tokens to generate"), QStringLiteral("N"));
  const QCommandLineOption temperature_opt(QStringLiteral("temperature"),
                                           QStringLiteral("sampling temperature (0 = greedy)"),
                                           QStringLiteral("T"));
  const QCommandLineOption top_k_opt(QStringLiteral("top-k"), QStringLiteral("top-k (0 = off)"),
                                     QStringLiteral("K"));
  const QCommandLineOption top_p_opt(QStringLiteral("top-p"), QStringLiteral("top-p (1 = off)"),
                                     QStringLiteral("P"));
  const QCommandLineOption seed_opt(QStringLiteral("seed"), QStringLiteral("random seed"),
                                    QStringLiteral("S"));
  const QCommandLineOption threads_opt(QStringLiteral("threads"),
                                       QStringLiteral("CPU threads for the model"),
                                       QStringLiteral("N"));
  const QCommandLineOption draft_opt(
      QStringLiteral("draft"),
      QStringLiteral("draft model directory: generate with tree speculative decoding"),
      QStringLiteral("DIR"));
  const QCommandLineOption tree_opt(
      QStringLiteral("tree"),
      QStringLiteral("speculative tree shape, e.g. 1,1,1,1 or 4,2,2,1 (implies speculative "
                     "decoding; the draft defaults to the shipped one)"),
      QStringLiteral("SHAPE"));
  const QCommandLineOption shot_opt(
      QStringLiteral("screenshot"),
      QStringLiteral("after the run (or the load, without --run) save the window to PATH and exit"),
      QStringLiteral("PATH"));
  const QCommandLineOption run_opt(QStringLiteral("run"),
                                   QStringLiteral("generate as soon as the model is loaded"));
  parser.addOptions({prompt_opt, max_tokens_opt, temperature_opt, top_k_opt, top_p_opt, seed_opt,
                     threads_opt, draft_opt, tree_opt, shot_opt, run_opt});
  parser.process(*app);  // handles --help / --version and exits

  const QStringList args = parser.positionalArguments();
  if (args.size() > 1) usage_error(QStringLiteral("expected at most one MODEL directory"));
  const QString model =
      args.isEmpty() ? QString::fromStdString(sm::default_target_model()) : args.first();

  auto to_int = [](const QString& s, bool* ok) { return s.toInt(ok); };
  auto to_double = [](const QString& s, bool* ok) { return s.toDouble(ok); };
  auto to_u64 = [](const QString& s, bool* ok) { return s.toULongLong(ok); };
  sm::SamplingParams sampling;
  sampling.temperature =
      static_cast<float>(parse_number(parser, QStringLiteral("temperature"), 0.0, to_double));
  sampling.top_k = parse_number(parser, QStringLiteral("top-k"), 0, to_int);
  sampling.top_p = static_cast<float>(parse_number(parser, QStringLiteral("top-p"), 1.0, to_double));
  sampling.seed = parse_number(parser, QStringLiteral("seed"), quint64{0}, to_u64);
  const int max_tokens = parse_number(parser, QStringLiteral("max-tokens"), 200, to_int);
  const int threads = parse_number(parser, QStringLiteral("threads"), 1, to_int);
  if (max_tokens < 0 || max_tokens > 1000000)
    usage_error(QStringLiteral("--max-tokens must be between 0 and 1000000"));
  if (threads < 1 || threads > 256) usage_error(QStringLiteral("--threads must be between 1 and 256"));
  if (sampling.temperature < 0 || sampling.temperature > 5)
    usage_error(QStringLiteral("--temperature must be between 0 and 5"));
  if (sampling.top_k < 0) usage_error(QStringLiteral("--top-k must be >= 0"));
  if (!(sampling.top_p > 0 && sampling.top_p <= 1))
    usage_error(QStringLiteral("--top-p must be in (0, 1]"));

  const bool run = parser.isSet(run_opt) || parser.isSet(prompt_opt);
  const QString shot = parser.value(shot_opt);

  try {
    sm::simd::init_from_env();
  } catch (const std::exception& e) {
    usage_error(QString::fromUtf8(e.what()));
  }
  sm::ui::MainWindow window;
  window.modelBar()->setPath(model);
  window.modelBar()->setThreads(threads);
  window.generationPanel()->sampling()->setMaxTokens(max_tokens);
  window.generationPanel()->sampling()->setParams(sampling);
  if (parser.isSet(prompt_opt)) window.generationPanel()->setPrompt(parser.value(prompt_opt));
  sm::ui::SpecControls* spec = window.generationPanel()->spec();
  if (parser.isSet(draft_opt)) {
    if (parser.value(draft_opt).trimmed().isEmpty()) usage_error(QStringLiteral("--draft: empty path"));
    spec->setDraftPath(parser.value(draft_opt));
  }
  if (parser.isSet(tree_opt)) spec->setTree(parser.value(tree_opt));  // checked when the run starts
  spec->setSpeculative(parser.isSet(draft_opt) || parser.isSet(tree_opt));
  window.show();

  // Saves the window once pending replots and layouts have run, then exits.
  auto save_and_exit = [&window, shot](bool ok) {
    QTimer::singleShot(200, &window, [&window, shot, ok] {
      window.latencyChart()->replotNow();
      const bool saved = window.grab().save(shot);
      if (saved)
        std::fprintf(stderr, "screenshot saved to %s\n", qPrintable(QDir::toNativeSeparators(shot)));
      else
        std::fprintf(stderr, "specmamba-studio: cannot save the screenshot to %s\n",
                     qPrintable(shot));
      QApplication::exit(ok && saved ? 0 : 1);
    });
  };

  QObject::connect(&window, &sm::ui::MainWindow::modelLoadFinished, &window,
                   [&window, run, shot, save_and_exit](bool ok) {
                     if (ok && run) {
                       window.startGeneration();  // ends in runFinished
                     } else if (!shot.isEmpty()) {
                       save_and_exit(ok);
                     }
                   });
  QObject::connect(&window, &sm::ui::MainWindow::runFinished, &window,
                   [shot, save_and_exit](bool ok) {
                     if (!shot.isEmpty()) save_and_exit(ok);
                   });
  QTimer::singleShot(0, &window, [&window, model] { window.loadModel(model); });
  return app->exec();
}
