// SPDX-License-Identifier: Apache-2.0
// specmamba-studio [MODEL] [--prompt TEXT] [--max-tokens N] [--temperature T]
//                  [--top-k K] [--top-p P] [--seed S] [--threads N] [--run]
//                  [--draft DIR] [--tree SHAPE] [--verify O] [--backtrack P]
//                  [--budget B] [--tile T] [--trace FILE] [--theme T]
//                  [--presentation] [--screenshot PATH] [--screenshot-views DIR]
//                  [--dump FILE] [--open-sweep FILE]
// Opens the main window on MODEL (default: the shipped target model). With
// --draft (or --tree, which then uses the shipped draft) runs use tree
// speculative decoding with that draft model and tree shape; the other
// speculative options are those of `specmamba generate`. With --run or
// --prompt it generates as soon as the model is loaded; with --screenshot it
// then saves the window to PATH and exits (0 = the run succeeded), with
// --screenshot-views it writes one PNG per view and DIR/report.json (the
// longest GUI stall during the run) and exits. --trace FILE writes the run's
// trace as `specmamba generate --trace` does; --open-trace FILE opens one in
// the run list; --dump FILE opens an activation dump in the dump inspector,
// --open-sweep FILE a sweep's results.h5 in the sweep view.
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
#include <QElapsedTimer>
#include <QJsonObject>
#include <QStyle>
#include <QStyleFactory>

#include "ui/latency_chart.h"
#include "ui/main_window.h"
#include "ui/models/run_list_model.h"
#include "ui/views/race_view.h"
#include "ui/models/run_record.h"
#include "ui/views/dump_inspector_view.h"
#include "ui/views/sweep_view.h"
#include "ui/views/view_snapshots.h"
#include "ui/workers/stall_monitor.h"
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
  const QCommandLineOption verify_opt(QStringLiteral("verify"),
                                      QStringLiteral("tree verification order: fifo, dfs or paths"),
                                      QStringLiteral("ORDER"));
  const QCommandLineOption backtrack_opt(QStringLiteral("backtrack"),
                                         QStringLiteral("backtracking policy: snapshot, replay or hybrid"),
                                         QStringLiteral("POLICY"));
  const QCommandLineOption budget_opt(QStringLiteral("budget"),
                                      QStringLiteral("hybrid: bytes of stored node states per model and step"),
                                      QStringLiteral("BYTES"));
  const QCommandLineOption tile_opt(QStringLiteral("tile"),
                                    QStringLiteral("channels (Mamba-1) / heads (Mamba-2) per verification tile; 0 = whole state"),
                                    QStringLiteral("N"));
  const QCommandLineOption views_opt(
      QStringLiteral("screenshot-views"),
      QStringLiteral("after the run write one PNG per view and report.json to DIR, then exit"),
      QStringLiteral("DIR"));
  const QCommandLineOption open_trace_opt(QStringLiteral("open-trace"),
                                          QStringLiteral("open a trace (.json or .h5) in the run list"),
                                          QStringLiteral("FILE"));
  // As in `specmamba generate`: write the run's events.
  const QCommandLineOption trace_opt(
      QStringLiteral("trace"),
      QStringLiteral("after the run write its trace: FILE.json (Chrome trace) or FILE.h5"),
      QStringLiteral("FILE"));
  const QCommandLineOption no_fifo_opt(QStringLiteral("no-fifo-events"),
                                       QStringLiteral("leave the per-tile FIFO events out of the trace"));
  const QCommandLineOption theme_opt(QStringLiteral("theme"),
                                     QStringLiteral("system (default), light or dark"),
                                     QStringLiteral("THEME"));
  const QCommandLineOption present_opt(QStringLiteral("presentation"),
                                       QStringLiteral("presentation mode: larger fonts, fewer controls"));
  const QCommandLineOption race_opt(
      QStringLiteral("race"),
      QStringLiteral("demo race: target-only against speculative decoding of the prompt, measured one "
                     "after the other, played back side by side"));
  const QCommandLineOption device_opt(
      QStringLiteral("device"),
      QStringLiteral("where a quantized model's ops run: cpu (default), emu (the accelerator's kernels on the "
                     "CPU) or xrt (an FPGA board; emu without one)"),
      QStringLiteral("NAME"));
  const QCommandLineOption dump_opt(QStringLiteral("dump"),
                                    QStringLiteral("open an HDF5 activation dump (specmamba generate --dump) in the dump inspector"),
                                    QStringLiteral("FILE"));
  const QCommandLineOption open_sweep_opt(QStringLiteral("open-sweep"),
                                          QStringLiteral("open a sweep's results (specmamba sweep --out) in the sweep view"),
                                          QStringLiteral("FILE"));
  const QCommandLineOption size_opt(QStringLiteral("window-size"),
                                    QStringLiteral("window size WIDTHxHEIGHT (screenshots)"),
                                    QStringLiteral("WxH"));
  parser.addOptions({prompt_opt, max_tokens_opt, temperature_opt, top_k_opt, top_p_opt, seed_opt,
                     threads_opt, draft_opt, tree_opt, verify_opt, backtrack_opt, budget_opt,
                     tile_opt, shot_opt, views_opt, run_opt, trace_opt, open_trace_opt, no_fifo_opt, theme_opt, present_opt,
                     size_opt, race_opt, device_opt, dump_opt, open_sweep_opt});
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

  const QString device = parser.isSet(device_opt) ? parser.value(device_opt) : QStringLiteral("cpu");
  if (device != QLatin1String("cpu") && device != QLatin1String("emu") && device != QLatin1String("xrt"))
    usage_error(QStringLiteral("--device must be cpu, emu or xrt"));
  const bool race = parser.isSet(race_opt);
  const bool run = !race && (parser.isSet(run_opt) || parser.isSet(prompt_opt));
  const QString shot = parser.value(shot_opt);
  const QString views_dir = parser.value(views_opt);
  const bool headless = !shot.isEmpty() || !views_dir.isEmpty();
  const qint64 budget = parse_number(parser, QStringLiteral("budget"), qint64{0},
                                     [](const QString& v, bool* ok) { return v.toLongLong(ok); });
  const int tile = parse_number(parser, QStringLiteral("tile"), 0, to_int);
  if (budget < 0) usage_error(QStringLiteral("--budget must be >= 0"));
  if (tile < 0) usage_error(QStringLiteral("--tile must be >= 0"));
  const QString theme = parser.value(theme_opt).isEmpty() ? QStringLiteral("system") : parser.value(theme_opt);
  if (theme != QLatin1String("system") && theme != QLatin1String("light") && theme != QLatin1String("dark"))
    usage_error(QStringLiteral("--theme must be system, light or dark"));
  QSize window_size(1600, 1000);
  if (parser.isSet(size_opt)) {
    const QStringList wh = parser.value(size_opt).split('x');
    bool okw = false, okh = false;
    if (wh.size() == 2) window_size = QSize(wh[0].toInt(&okw), wh[1].toInt(&okh));
    if (!okw || !okh || window_size.width() < 200 || window_size.height() < 150)
      usage_error(QStringLiteral("--window-size must be WIDTHxHEIGHT, at least 200x150"));
  }
  const bool speculative_flags = parser.isSet(verify_opt) || parser.isSet(backtrack_opt) ||
                                 parser.isSet(budget_opt) || parser.isSet(tile_opt) ||
                                 parser.isSet(no_fifo_opt);

  try {
    sm::simd::init_from_env();
  } catch (const std::exception& e) {
    usage_error(QString::fromUtf8(e.what()));
  }
  if (theme != QLatin1String("system")) {
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QPalette pal = QApplication::style()->standardPalette();
    if (theme == QLatin1String("dark")) {
      pal.setColor(QPalette::Window, QColor(0x2b, 0x2d, 0x30));
      pal.setColor(QPalette::WindowText, QColor(0xe6, 0xe6, 0xe6));
      pal.setColor(QPalette::Base, QColor(0x1e, 0x1f, 0x22));
      pal.setColor(QPalette::AlternateBase, QColor(0x2b, 0x2d, 0x30));
      pal.setColor(QPalette::Text, QColor(0xe6, 0xe6, 0xe6));
      pal.setColor(QPalette::Button, QColor(0x3c, 0x3f, 0x41));
      pal.setColor(QPalette::ButtonText, QColor(0xe6, 0xe6, 0xe6));
      pal.setColor(QPalette::PlaceholderText, QColor(0x8c, 0x8c, 0x8c));
      pal.setColor(QPalette::Highlight, QColor(0x35, 0x74, 0xf0));
      pal.setColor(QPalette::HighlightedText, Qt::white);
      pal.setColor(QPalette::ToolTipBase, QColor(0x3c, 0x3f, 0x41));
      pal.setColor(QPalette::ToolTipText, QColor(0xe6, 0xe6, 0xe6));
    }
    QApplication::setPalette(pal);
  }
  // Settings persist only for interactive sessions: a scripted screenshot
  // run must neither read nor overwrite the user's layout.
  sm::ui::MainWindow window(nullptr, !headless);
  window.resize(window_size);
  window.modelBar()->setPath(model);
  window.modelBar()->setThreads(threads);
  window.modelBar()->setDevice(device);
  window.generationPanel()->sampling()->setMaxTokens(max_tokens);
  window.generationPanel()->sampling()->setParams(sampling);
  if (parser.isSet(prompt_opt)) window.generationPanel()->setPrompt(parser.value(prompt_opt));
  sm::ui::SpecControls* spec = window.generationPanel()->spec();
  if (parser.isSet(draft_opt)) {
    if (parser.value(draft_opt).trimmed().isEmpty()) usage_error(QStringLiteral("--draft: empty path"));
    spec->setDraftPath(parser.value(draft_opt));
  }
  if (parser.isSet(tree_opt)) spec->setTree(parser.value(tree_opt));  // checked when the run starts
  {
    sm::ui::SpecRequest r = spec->request();
    if (parser.isSet(verify_opt)) r.verify = parser.value(verify_opt);
    if (parser.isSet(backtrack_opt)) r.backtrack = parser.value(backtrack_opt);
    if (parser.isSet(budget_opt)) r.budget = budget;
    if (parser.isSet(tile_opt)) r.tile = tile;
    if (parser.isSet(no_fifo_opt)) r.fifo_events = false;
    spec->setRequest(r);
  }
  if (parser.isSet(draft_opt) || parser.isSet(tree_opt) || speculative_flags) spec->setSpeculative(true);
  window.show();
  if (parser.isSet(present_opt)) window.setPresentationMode(true);
  if (parser.isSet(open_trace_opt) && !window.openTrace(parser.value(open_trace_opt)) && headless) return 1;
  // A bad file is named on the view; a scripted run stops on it.
  if (parser.isSet(dump_opt) && !window.openDump(parser.value(dump_opt)) && headless) {
    std::fprintf(stderr, "specmamba-studio: %s\n", qPrintable(window.dumpInspector()->errorText()));
    return 1;
  }
  if (parser.isSet(open_sweep_opt) && !window.sweepView()->openResults(parser.value(open_sweep_opt)) && headless) {
    std::fprintf(stderr, "specmamba-studio: %s\n", qPrintable(window.sweepView()->message()));
    return 1;
  }
  if (parser.isSet(trace_opt)) {
    const QString path = parser.value(trace_opt);
    if (!path.endsWith(QLatin1String(".json")) && !path.endsWith(QLatin1String(".h5")) &&
        !path.endsWith(QLatin1String(".hdf5")))
      usage_error(QStringLiteral("--trace FILE must end in .json (Chrome trace) or .h5 (HDF5)"));
    QObject::connect(&window, &sm::ui::MainWindow::runFinished, &window, [&window, path](bool ok) {
      if (ok && !window.exportTrace(path)) std::fprintf(stderr, "specmamba-studio: trace not written\n");
    });
  }

  sm::ui::StallMonitor stalls;
  QObject::connect(&window, &sm::ui::MainWindow::stateChanged, &window,
                   [&stalls](sm::ui::MainWindow::State s) {
                     if (s == sm::ui::MainWindow::State::Generating) stalls.start();
                   });
  auto save_views_and_exit = [&window, &stalls, views_dir](bool ok) {
    stalls.stop();
    const double stall = stalls.maxStallMs();
    QTimer::singleShot(200, &window, [&window, views_dir, ok, stall] {
      QJsonObject extra;
      extra.insert(QStringLiteral("max_gui_stall_ms"), stall);
      extra.insert(QStringLiteral("run_ok"), ok);
      if (auto run = window.currentRun()) {
        extra.insert(QStringLiteral("generated_tokens"), qint64(run->figures.generated));
        extra.insert(QStringLiteral("steps"), qint64(run->figures.steps));
        extra.insert(QStringLiteral("tokens_per_second"), run->figures.tokens_per_second);
        extra.insert(QStringLiteral("tokens_per_pass"), run->figures.tokens_per_pass);
        extra.insert(QStringLiteral("settings"), run->settings.describe());
      }
      try {
        const QStringList names = sm::ui::save_view_snapshots(window, views_dir, extra);
        std::fprintf(stderr, "%lld views saved to %s (max GUI stall %.1f ms)\n", (long long)names.size(),
                     qPrintable(QDir::toNativeSeparators(views_dir)), stall);
        QApplication::exit(ok ? 0 : 1);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "specmamba-studio: %s\n", e.what());
        QApplication::exit(1);
      }
    });
  };

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

  if (race) {
    sm::ui::RaceView* rv = window.raceView();
    if (headless)  // no one watches: skip the paced playback
      QObject::connect(rv, &sm::ui::RaceView::measured, rv, [rv] { rv->finishPlaybackNow(); });
    QObject::connect(rv, &sm::ui::RaceView::finished, &window,
                     [shot, views_dir, save_and_exit, save_views_and_exit] {
                       if (!views_dir.isEmpty()) save_views_and_exit(true);
                       else if (!shot.isEmpty()) save_and_exit(true);
                     });
    QObject::connect(rv, &sm::ui::RaceView::raceFailed, &window,
                     [shot, views_dir, save_and_exit, save_views_and_exit](const QString& m) {
                       std::fprintf(stderr, "specmamba-studio: race failed: %s\n", qPrintable(m));
                       if (!views_dir.isEmpty()) save_views_and_exit(false);
                       else if (!shot.isEmpty()) save_and_exit(false);
                     });
  }
  QObject::connect(&window, &sm::ui::MainWindow::modelLoadFinished, &window,
                   [&window, &stalls, run, race, shot, views_dir, save_and_exit, save_views_and_exit](bool ok) {
                     if (ok && race) {
                       stalls.start();
                       window.startRace();
                     } else if (ok && run) {
                       window.startGeneration();  // ends in runFinished
                     } else if (!views_dir.isEmpty()) {
                       save_views_and_exit(ok);
                     } else if (!shot.isEmpty()) {
                       save_and_exit(ok);
                     }
                   });
  QObject::connect(&window, &sm::ui::MainWindow::runFinished, &window,
                   [shot, views_dir, save_and_exit, save_views_and_exit](bool ok) {
                     if (!views_dir.isEmpty()) save_views_and_exit(ok);
                     else if (!shot.isEmpty()) save_and_exit(ok);
                   });
  QTimer::singleShot(0, &window, [&window, model] { window.loadModel(model); });
  return app->exec();
}
