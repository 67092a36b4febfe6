// SPDX-License-Identifier: Apache-2.0
#include "core/sweep/sweep.h"

#include "ui/models/sweep_table_model.h"

#include <QColor>
#include <QLocale>

#include <cmath>

namespace sm::ui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

double resource(int64_t v) { return v < 0 ? std::nan("") : double(v); }

// Decimals per figure: what distinguishes two configurations, no more.
int decimals(int column) {
  switch (column) {
    case SweepTableModel::Speedup:
    case SweepTableModel::MeanAccepted: return 2;
    case SweepTableModel::Bpb:
    case SweepTableModel::EnergyPerToken: return 3;
    default: return 0;
  }
}

}  // namespace

const std::vector<SweepMetric>& sweep_metrics() {
  using D = ParetoDirection;
  static const std::vector<SweepMetric> m = {
      {"tokens_per_second", QObject::tr("tok/s"), D::Maximise},
      {"speedup", QObject::tr("speedup"), D::Maximise},
      {"mean_accepted", QObject::tr("mean accepted"), D::Maximise},
      {"sim_tokens_per_second", QObject::tr("simulated tok/s"), D::Maximise},
      {"energy_per_token_mj", QObject::tr("energy per token (mJ)"), D::Minimise},
      {"bpb", QObject::tr("bits per byte"), D::Minimise},
      {"dsp", QObject::tr("DSP"), D::Minimise},
      {"lut", QObject::tr("LUT"), D::Minimise},
      {"bram", QObject::tr("BRAM"), D::Minimise},
      {"uram", QObject::tr("URAM"), D::Minimise},
  };
  return m;
}

const SweepMetric* find_sweep_metric(const std::string& key) {
  for (const SweepMetric& m : sweep_metrics())
    if (m.key == key) return &m;
  return nullptr;
}

SweepTableModel::SweepTableModel(QObject* parent) : QAbstractTableModel(parent) {}

int SweepTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

int SweepTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

std::string SweepTableModel::columnKey(int column) {
  switch (column) {
    case Tree: return "tree";
    case Verify: return "verify";
    case Tile: return "tile";
    case Backtrack: return "backtrack";
    case Budget: return "budget";
    case Preset: return "preset";
    case Platform: return "platform";
    case TokensPerSecond: return "tokens_per_second";
    case Speedup: return "speedup";
    case MeanAccepted: return "mean_accepted";
    case Bpb: return "bpb";
    case SimTokensPerSecond: return "sim_tokens_per_second";
    case EnergyPerToken: return "energy_per_token_mj";
    case Dsp: return "dsp";
    case Lut: return "lut";
    case Bram: return "bram";
    case Uram: return "uram";
    case Fits: return "fits";
    default: return {};
  }
}

bool SweepTableModel::isNumericColumn(int column) {
  return column == Index || column == Tile || column == Budget || (column >= TokensPerSecond && column <= Fits);
}

QString SweepTableModel::statusName(RowStatus s) {
  switch (s) {
    case RowStatus::Pending: return tr("pending");
    case RowStatus::Running: return tr("running");
    case RowStatus::Done: return tr("done");
    case RowStatus::Failed: return tr("failed");
  }
  return {};
}

QVariant SweepTableModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case TokensPerSecond: return tr("Speculative decoding, measured tokens per second");
      case Speedup: return tr("Over the target model alone at the same preset");
      case MeanAccepted: return tr("Accepted draft tokens per step");
      case Bpb: return tr("Bits per byte of the target at this preset on the held-out text");
      case SimTokensPerSecond: return tr("Tokens per second of the simulated accelerator on the platform");
      case EnergyPerToken: return tr("Simulated accelerator energy per token (mJ)");
      case Fits: return tr("Whether the design fits the platform's resources");
      default: return {};
    }
  }
  if (role != Qt::DisplayRole) return {};
  static const char* const names[] = {"#",      "Status", "Tree",   "Verify", "Tile",      "Backtrack", "Budget",
                                      "Preset", "Platform", "tok/s", "Speedup", "Accepted", "bpb",      "Sim tok/s",
                                      "mJ/token", "DSP",  "LUT",    "BRAM",   "URAM",      "Fits",      "Message"};
  return tr(names[section]);
}

QVariant SweepTableModel::sortValue(const Entry& e, int column) const {
  if (column == Index) return double(e.config.index);
  if (column == Status) return double(static_cast<int>(e.status));
  if (column == Message) return display(e, column);
  if (column == Tile) return double(e.config.tile);
  if (column == Budget) return double(e.config.budget);
  if (!isNumericColumn(column)) return display(e, column);
  const bool measured = e.status == RowStatus::Done || e.status == RowStatus::Failed;
  if (!measured) return std::nan("");
  if (column == Fits) return e.result.fits < 0 ? std::nan("") : double(e.result.fits);
  if (column >= Dsp && column <= Uram) return resource(static_cast<int64_t>(sweep::column_value(e.result, columnKey(column))));
  return sweep::column_value(e.result, columnKey(column));
}

QVariant SweepTableModel::display(const Entry& e, int column) const {
  const sweep::SweepConfig& c = e.config;
  switch (column) {
    case Index: return QString::number(c.index);
    case Status: return statusName(e.status);
    case Tree: return qs(c.tree);
    case Verify: return qs(c.verify);
    case Tile: return QString::number(c.tile);
    case Backtrack: return qs(c.backtrack);
    case Budget: return QLocale().toString(qlonglong(c.budget));
    case Preset: return qs(c.preset);
    case Platform: return qs(c.platform);
    case Message:
      if (e.status == RowStatus::Failed) return qs(e.result.error);
      return e.status == RowStatus::Done ? qs(e.result.fit_note) : QString();
    case Fits:
      if (e.status != RowStatus::Done || e.result.fits < 0) return QString();
      return e.result.fits ? tr("yes") : tr("no");
    default: break;
  }
  const double v = sortValue(e, column).toDouble();
  if (!std::isfinite(v)) return QString();
  return QLocale().toString(v, 'f', decimals(column));
}

QVariant SweepTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
  const Entry& e = entries_[static_cast<size_t>(index.row())];
  switch (role) {
    case Qt::DisplayRole: return display(e, index.column());
    case SortRole: return sortValue(e, index.column());
    case ConfigIndexRole: return qlonglong(e.config.index);
    case Qt::TextAlignmentRole:
      return isNumericColumn(index.column()) ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter)) : QVariant();
    case Qt::ToolTipRole:
      if (index.column() == Status || index.column() == Message) {
        if (e.status == RowStatus::Failed) return qs(e.result.error);
        if (e.status == RowStatus::Done && !e.result.fit_note.empty()) return qs(e.result.fit_note);
      }
      return index.column() == Tree ? qs(e.config.describe()) : QVariant();
    case Qt::ForegroundRole:
      if (index.column() == Status && e.status == RowStatus::Failed) return QColor(0xD5, 0x5E, 0x00);
      if (index.column() == Fits && e.status == RowStatus::Done && e.result.fits == 0) return QColor(0xD5, 0x5E, 0x00);
      return {};
    default: return {};
  }
}

void SweepTableModel::emitRowChanged(int row) {
  emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void SweepTableModel::clear() {
  if (entries_.empty()) return;
  beginResetModel();
  entries_.clear();
  row_of_.clear();
  endResetModel();
}

void SweepTableModel::addPending(const std::vector<sweep::SweepConfig>& configs) {
  std::vector<const sweep::SweepConfig*> fresh;
  for (const sweep::SweepConfig& c : configs) {
    const int row = rowOfConfig(c.index);
    if (row < 0) {
      fresh.push_back(&c);
    } else if (entries_[size_t(row)].status == RowStatus::Running) {
      entries_[size_t(row)].status = RowStatus::Pending;
      emitRowChanged(row);
    }
  }
  if (fresh.empty()) return;
  const int first = rowCount();
  beginInsertRows({}, first, first + int(fresh.size()) - 1);
  for (const sweep::SweepConfig* c : fresh) {
    row_of_[c->index] = int(entries_.size());
    entries_.push_back({*c, RowStatus::Pending, {}});
  }
  endInsertRows();
}

void SweepTableModel::setRunning(int64_t config_index) {
  const int row = rowOfConfig(config_index);
  if (row < 0 || entries_[size_t(row)].status != RowStatus::Pending) return;
  entries_[size_t(row)].status = RowStatus::Running;
  emitRowChanged(row);
}

void SweepTableModel::addResult(const sweep::SweepRow& r) {
  const RowStatus s = r.ok() ? RowStatus::Done : RowStatus::Failed;
  const int row = rowOfConfig(r.config.index);
  if (row >= 0) {
    entries_[size_t(row)] = {r.config, s, r};
    emitRowChanged(row);
    return;
  }
  const int at = rowCount();
  beginInsertRows({}, at, at);
  row_of_[r.config.index] = at;
  entries_.push_back({r.config, s, r});
  endInsertRows();
}

void SweepTableModel::setResults(const std::vector<sweep::SweepRow>& rows) {
  beginResetModel();
  entries_.clear();
  row_of_.clear();
  for (const sweep::SweepRow& r : rows) {
    const RowStatus s = r.ok() ? RowStatus::Done : RowStatus::Failed;
    auto [it, inserted] = row_of_.emplace(r.config.index, int(entries_.size()));
    if (inserted)
      entries_.push_back({r.config, s, r});
    else
      entries_[size_t(it->second)] = {r.config, s, r};
  }
  endResetModel();
}

void SweepTableModel::resetUnfinished() {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].status == RowStatus::Running) {
      entries_[i].status = RowStatus::Pending;
      emitRowChanged(int(i));
    }
}

int SweepTableModel::rowOfConfig(int64_t config_index) const {
  const auto it = row_of_.find(config_index);
  return it == row_of_.end() ? -1 : it->second;
}

int SweepTableModel::count(RowStatus s) const {
  int n = 0;
  for (const Entry& e : entries_) n += e.status == s;
  return n;
}

std::vector<double> SweepTableModel::metricValues(const std::string& key) const {
  const bool resource_column = key == "dsp" || key == "lut" || key == "bram" || key == "uram";
  std::vector<double> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) {
    double v = e.status == RowStatus::Done ? sweep::column_value(e.result, key) : std::nan("");
    if (resource_column && v < 0) v = std::nan("");
    out.push_back(v);
  }
  return out;
}

SweepSortProxy::SweepSortProxy(QObject* parent) : QSortFilterProxyModel(parent) {
  setSortRole(SweepTableModel::SortRole);
}

bool SweepSortProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
  const QVariant a = left.data(sortRole()), b = right.data(sortRole());
  const qlonglong ia = left.data(SweepTableModel::ConfigIndexRole).toLongLong();
  const qlonglong ib = right.data(SweepTableModel::ConfigIndexRole).toLongLong();
  if (a.typeId() == QMetaType::Double && b.typeId() == QMetaType::Double) {
    const double x = a.toDouble(), y = b.toDouble();
    const bool mx = std::isnan(x), my = std::isnan(y);
    // Missing last: the proxy reverses lessThan for a descending sort.
    const bool descending = sortOrder() == Qt::DescendingOrder;
    if (mx != my) return descending ? mx : my;
    if (!mx && x != y) return x < y;
  } else {
    const int c = QString::localeAwareCompare(a.toString(), b.toString());
    if (c != 0) return c < 0;
  }
  // Ties in configuration order whichever way the column sorts.
  return sortOrder() == Qt::DescendingOrder ? ia > ib : ia < ib;
}

}  // namespace sm::ui
