// SPDX-License-Identifier: Apache-2.0
#include "ui/models/run_list_model.h"

#include <QFileInfo>

namespace sm::ui {
namespace {

QString dir_name(const QString& path) {
  return path.isEmpty() ? QStringLiteral("–") : QFileInfo(path).fileName();
}

QString sampling_text(const RunSettings& s) {
  if (s.temperature <= 0) return QStringLiteral("greedy");
  QString t = QStringLiteral("T %1").arg(s.temperature, 0, 'g', 3);
  if (s.top_k > 0) t += QStringLiteral(" k %1").arg(s.top_k);
  if (s.top_p < 1) t += QStringLiteral(" p %1").arg(s.top_p, 0, 'g', 3);
  return t + QStringLiteral(" seed %1").arg(s.seed);
}

// Traces written before the tuner carry no quantization or device: they match any.
bool same_or_unknown(const QString& a, const QString& b) { return a.isEmpty() || b.isEmpty() || a == b; }

}  // namespace

RunListModel::RunListModel(QObject* parent) : QAbstractTableModel(parent) {}

int RunListModel::addRun(std::shared_ptr<const RunRecord> run) {
  const int row = size();
  beginInsertRows({}, row, row);
  Entry e{std::move(run), {}};
  e.name = e.run && !e.run->name.isEmpty() ? e.run->name : tr("Run %1").arg(next_number_);
  ++next_number_;
  runs_.push_back(std::move(e));
  endInsertRows();
  // A new target-only run is the baseline of later speculative runs only,
  // but an opened trace may carry its own: every speedup cell may change.
  if (row > 0) emit dataChanged(index(0, Baseline), index(row, Speedup));
  return row;
}

void RunListModel::removeRun(int row) {
  if (row < 0 || row >= size()) return;
  beginRemoveRows({}, row, row);
  runs_.erase(runs_.begin() + row);
  endRemoveRows();
  if (!runs_.empty()) emit dataChanged(index(0, Baseline), index(size() - 1, Speedup));
}

void RunListModel::clear() {
  beginResetModel();
  runs_.clear();
  endResetModel();
}

std::shared_ptr<const RunRecord> RunListModel::run(int row) const {
  return row >= 0 && row < size() ? runs_[size_t(row)].run : nullptr;
}

QString RunListModel::name(int row) const {
  return row >= 0 && row < size() ? runs_[size_t(row)].name : QString();
}

int RunListModel::rowOf(const RunRecord* run) const {
  for (int i = 0; i < size(); ++i)
    if (runs_[size_t(i)].run.get() == run) return i;
  return -1;
}

double RunListModel::baseline(int row) const {
  const auto r = run(row);
  if (!r) return 0;
  if (!r->settings.speculative()) return r->figures.tokens_per_second;
  if (r->figures.baseline_tokens_per_second > 0) return r->figures.baseline_tokens_per_second;
  // The newest target-only run of the same model and threads before it.
  for (int i = row - 1; i >= 0; --i) {
    const auto& b = runs_[size_t(i)].run;
    if (b && !b->settings.speculative() && b->settings.target == r->settings.target &&
        b->settings.threads == r->settings.threads && same_or_unknown(b->settings.quantization, r->settings.quantization) &&
        same_or_unknown(b->settings.device, r->settings.device) && b->figures.tokens_per_second > 0)
      return b->figures.tokens_per_second;
  }
  return 0;
}

double RunListModel::speedup(int row) const {
  const auto r = run(row);
  const double b = baseline(row);
  return r && b > 0 ? r->figures.tokens_per_second / b : 0;
}

int RunListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : size(); }
int RunListModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RunListModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* kNames[ColumnCount] = {
      "Run", "Target", "Draft", "Tree", "Verify", "Tile", "Backtrack", "Budget", "Sampling",
      "Threads", "Tokens", "tok/s", "Baseline tok/s", "Speedup", "Tok/pass", "Mean accepted",
      "Steps", "Stop", "Quantization", "Device", "Platform", "Bits/byte", "Sim tok/s",
      "mJ/token", "DSP", "LUT", "BRAM", "URAM"};
  return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

QVariant RunListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= size() || index.column() >= ColumnCount) return {};
  const Entry& e = runs_[size_t(index.row())];
  const RunRecord& r = *e.run;
  const RunSettings& s = r.settings;
  const RunFigures& f = r.figures;
  const bool spec = s.speculative();
  if (role == Qt::ToolTipRole) {
    if (index.column() == Target || index.column() == Draft)
      return index.column() == Target ? s.target : s.draft;
    if (index.column() >= Dsp && !f.fit_problem.isEmpty()) return f.fit_problem;
    if (index.column() == Quantization || index.column() == Platform)
      return index.column() == Quantization ? s.quantization : s.design;
    return tr("%1 · %2 · prompt: %3").arg(e.name, s.describe(), s.prompt.left(80));
  }
  if (role == Qt::TextAlignmentRole)
    return (index.column() >= Tokens && index.column() <= Steps) || index.column() >= BitsPerByte
               ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
               : QVariant(Qt::AlignLeft | Qt::AlignVCenter);
  const bool display = role == Qt::DisplayRole;
  if (!display && role != Qt::UserRole) return {};
  auto num = [&](double v, int decimals) -> QVariant {
    return display ? QVariant(QString::number(v, 'f', decimals)) : QVariant(v);
  };
  const QString dash = QStringLiteral("–");
  switch (index.column()) {
    case Name: return e.name;
    case Target: return dir_name(s.target);
    case Draft: return spec ? dir_name(s.draft) : dash;
    case Tree: return spec ? s.tree : tr("target-only");
    case Verify: return spec ? s.verify : dash;
    case Tile: return spec ? QVariant(s.tile) : QVariant(dash);
    case Backtrack: return spec ? s.backtrack : dash;
    case Budget: return spec && s.backtrack == QLatin1String("hybrid") ? QVariant(qlonglong(s.budget)) : QVariant(dash);
    case Sampling: return sampling_text(s);
    case Threads: return s.threads;
    case Tokens: return qlonglong(f.generated);
    case TokensPerSecond: return num(f.tokens_per_second, 1);
    case Baseline: {
      const double b = baseline(index.row());
      return b > 0 ? num(b, 1) : (display ? QVariant(dash) : QVariant(0.0));
    }
    case Speedup: {
      const double x = speedup(index.row());
      if (!spec) return display ? QVariant(tr("baseline")) : QVariant(1.0);
      return x > 0 ? (display ? QVariant(QStringLiteral("%1x").arg(x, 0, 'f', 2)) : QVariant(x))
                   : (display ? QVariant(dash) : QVariant(0.0));
    }
    case TokensPerPass: return spec ? num(f.tokens_per_pass, 2) : QVariant(display ? dash : QString());
    case MeanAccepted: return spec ? num(f.mean_accepted, 2) : QVariant(display ? dash : QString());
    case Steps: return spec ? QVariant(qlonglong(f.steps)) : QVariant(dash);
    case Stop: return f.stop_reason;
    case Quantization: return s.quantization.isEmpty() ? dash : s.quantization.section(QLatin1Char(':'), 0, 0);
    case Device: return s.device.isEmpty() ? dash : s.device;
    case Platform: return s.platform.isEmpty() ? dash : s.platform;
    case BitsPerByte: return f.bpb >= 0 ? num(f.bpb, 3) : (display ? QVariant(dash) : QVariant(-1.0));
    case SimTokensPerSecond:
      return f.sim_tokens_per_second > 0 ? num(f.sim_tokens_per_second, 0) : (display ? QVariant(dash) : QVariant(0.0));
    case EnergyPerToken:
      return f.energy_per_token_mj > 0 ? num(f.energy_per_token_mj, 3) : (display ? QVariant(dash) : QVariant(0.0));
    case Dsp: case Lut: case Bram: case Uram: {
      const int64_t v = index.column() == Dsp ? f.dsp : index.column() == Lut ? f.lut : index.column() == Bram ? f.bram : f.uram;
      return v >= 0 ? QVariant(qlonglong(v)) : (display ? QVariant(dash) : QVariant(qlonglong(-1)));
    }
    default: return {};
  }
}

}  // namespace sm::ui
