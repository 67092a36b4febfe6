// SPDX-License-Identifier: Apache-2.0
#pragma once
// The sweep's results as a table: one row per configuration (its axis values,
// a status, then the measured figures of core/sweep's SweepRow). A run first
// lists the configurations it will compute as pending; results update their
// row as they stream in, and a result for a configuration not listed yet (a
// results file opened, a resumed run) is appended. Figures that do not apply
// (NaN, resources -1) show as empty cells and sort last in either order
// through SweepSortProxy.
#include "core/sweep/sweep.h"
#include "ui/models/pareto.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QString>

#include <string>
#include <unordered_map>
#include <vector>

namespace sm::ui {

// A figure the Pareto plot can put on an axis, with the direction that is better.
struct SweepMetric {
  std::string key;  // results.h5 column ("tokens_per_second")
  QString label;    // axis title ("tok/s")
  ParetoDirection direction;
};
// tok/s, speedup, mean accepted, simulated tok/s (higher is better); energy
// per token, bits per byte, DSP, LUT, BRAM, URAM (lower is better).
const std::vector<SweepMetric>& sweep_metrics();
const SweepMetric* find_sweep_metric(const std::string& key);

class SweepTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    Index,
    Status,
    Tree,
    Verify,
    Tile,
    Backtrack,
    Budget,
    Preset,
    Platform,
    TokensPerSecond,
    Speedup,
    MeanAccepted,
    Bpb,
    SimTokensPerSecond,
    EnergyPerToken,
    Dsp,
    Lut,
    Bram,
    Uram,
    Fits,
    Message,
    ColumnCount
  };
  enum class RowStatus { Pending, Running, Done, Failed };
  // A double for numeric columns (NaN when missing), the text otherwise.
  static constexpr int SortRole = Qt::UserRole + 1;
  // The configuration's index in the cross product (qlonglong), any column.
  static constexpr int ConfigIndexRole = Qt::UserRole + 2;

  struct Entry {
    sweep::SweepConfig config;
    RowStatus status = RowStatus::Pending;
    sweep::SweepRow result;  // meaningful when Done or Failed
  };

  explicit SweepTableModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

  void clear();
  // Lists `configs` as pending, keeping rows already done or failed (resume).
  void addPending(const std::vector<sweep::SweepConfig>& configs);
  void setRunning(int64_t config_index);
  // Done (or failed, when row.error is set); appended if not listed.
  void addResult(const sweep::SweepRow& row);
  // Replaces the table with a finished sweep's rows (a results file).
  void setResults(const std::vector<sweep::SweepRow>& rows);
  // Rows still pending or running become pending again (a cancelled run).
  void resetUnfinished();

  const Entry& entry(int row) const { return entries_.at(static_cast<size_t>(row)); }
  int rowOfConfig(int64_t config_index) const;  // -1 if absent
  int count(RowStatus s) const;
  // One value per row of `key` (a SweepMetric key): NaN unless the row is
  // done and the figure applies (resources -1 count as missing).
  std::vector<double> metricValues(const std::string& key) const;

  // results.h5 column name of a column ("tokens_per_second"), "" for
  // Index / Status / Message.
  static std::string columnKey(int column);
  static bool isNumericColumn(int column);
  static QString statusName(RowStatus s);

 private:
  QVariant display(const Entry& e, int column) const;
  QVariant sortValue(const Entry& e, int column) const;
  void emitRowChanged(int row);

  std::vector<Entry> entries_;
  std::unordered_map<int64_t, int> row_of_;  // config index -> row
};

// Sorting by SweepTableModel::SortRole with missing figures last, ascending
// or descending; equal keys keep the configuration order.
class SweepSortProxy : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  explicit SweepSortProxy(QObject* parent = nullptr);

 protected:
  bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

}  // namespace sm::ui
