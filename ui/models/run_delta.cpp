// SPDX-License-Identifier: Apache-2.0
#include "ui/models/run_delta.h"

#include <cmath>
#include <limits>

#include "ui/models/run_list_model.h"
#include "ui/models/run_record.h"

namespace sm::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

RunDeltaModel::RunDeltaModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunDeltaModel::setRunList(RunListModel* runs) {
  if (runs_) disconnect(runs_, nullptr, this, nullptr);
  runs_ = runs;
  if (runs_) {
    connect(runs_, &QAbstractItemModel::rowsInserted, this, &RunDeltaModel::refresh);
    connect(runs_, &QAbstractItemModel::rowsRemoved, this, &RunDeltaModel::refresh);
    connect(runs_, &QAbstractItemModel::modelReset, this, &RunDeltaModel::refresh);
    connect(runs_, &QAbstractItemModel::dataChanged, this, &RunDeltaModel::refresh);
  }
  refresh();
}

void RunDeltaModel::refresh() {
  emit dataChanged(index(0, 0), index(RowCount - 1, ColumnCount - 1));
  emit headerDataChanged(Qt::Horizontal, PreviousColumn, LatestColumn);  // run names
}

int RunDeltaModel::latestRow() const { return runs_ ? runs_->size() - 1 : -1; }
int RunDeltaModel::previousRow() const { return runs_ ? runs_->size() - 2 : -1; }

double RunDeltaModel::value(Row r, int row) const {
  if (!runs_ || row < 0) return kNaN;
  const auto run = runs_->run(row);
  if (!run) return kNaN;
  const RunFigures& f = run->figures;
  const bool spec = run->settings.speculative();
  auto count = [](int64_t v) { return v >= 0 ? double(v) : kNaN; };
  switch (r) {
    case TokensPerSecond: return f.tokens_per_second;
    case Speedup: return !spec ? 1.0 : runs_->speedup(row) > 0 ? runs_->speedup(row) : kNaN;
    case MeanAccepted: return spec ? f.mean_accepted : kNaN;
    case BitsPerByte: return f.bpb >= 0 ? f.bpb : kNaN;
    case SimTokensPerSecond: return f.sim_tokens_per_second > 0 ? f.sim_tokens_per_second : kNaN;
    case EnergyPerToken: return f.energy_per_token_mj > 0 ? f.energy_per_token_mj : kNaN;
    case Dsp: return count(f.dsp);
    case Lut: return count(f.lut);
    case Bram: return count(f.bram);
    case Uram: return count(f.uram);
    default: return kNaN;
  }
}

int RunDeltaModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : RowCount; }
int RunDeltaModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RunDeltaModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case FigureColumn: return tr("Figure");
    case PreviousColumn: return previousRow() >= 0 ? runs_->name(previousRow()) : tr("Previous");
    case LatestColumn: return latestRow() >= 0 ? runs_->name(latestRow()) : tr("Latest");
    case DeltaColumn: return tr("Δ");
    default: return {};
  }
}

QVariant RunDeltaModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= RowCount || index.column() >= ColumnCount) return {};
  const Row row = Row(index.row());
  static const char* kNames[RowCount] = {"tok/s",     "Speedup vs target-only", "Mean accepted",
                                         "Bits/byte", "Sim tok/s",              "Energy (mJ/token)",
                                         "DSP",       "LUT",                    "BRAM",
                                         "URAM"};
  const double prev = value(row, previousRow()), last = value(row, latestRow());
  if (role == Qt::UserRole) {
    switch (index.column()) {
      case PreviousColumn: return prev;
      case LatestColumn: return last;
      case DeltaColumn: return last - prev;
      default: return {};
    }
  }
  if (role == Qt::TextAlignmentRole)
    return index.column() == FigureColumn ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                          : QVariant(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  const int decimals = row >= Dsp ? 0 : row == BitsPerByte || row == EnergyPerToken ? 3 : row == Speedup || row == MeanAccepted ? 2 : 1;
  auto text = [&](double v, bool sign) -> QString {
    if (std::isnan(v)) return QStringLiteral("–");
    QString t = QString::number(v, 'f', decimals);
    if (row == Speedup && !sign) t += QLatin1Char('x');
    return sign && v > 0 ? QStringLiteral("+") + t : t;
  };
  switch (index.column()) {
    case FigureColumn: return tr(kNames[row]);
    case PreviousColumn: return text(prev, false);
    case LatestColumn: return text(last, false);
    case DeltaColumn: {
      if (std::isnan(prev) || std::isnan(last)) return QStringLiteral("–");
      QString t = text(last - prev, true);
      if (prev != 0 && row != BitsPerByte) t += QStringLiteral(" (%1%)").arg((last - prev) / std::abs(prev) * 100, 0, 'f', 0);
      return t;
    }
    default: return {};
  }
}

}  // namespace sm::ui
