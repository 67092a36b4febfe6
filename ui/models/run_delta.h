// SPDX-License-Identifier: Apache-2.0
#pragma once
// The tuner's delta table: the newest run against the run before it, one
// row per figure (tok/s, speedup over target-only, mean accepted, bits per
// byte, simulated tok/s, energy per token, DSP / LUT / BRAM / URAM), columns
// Figure / Previous / Latest / Δ. UserRole holds the numbers (NaN: not
// measured), DisplayRole text.
#include <QAbstractTableModel>
#include <QPointer>

namespace sm::ui {

class RunListModel;

class RunDeltaModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Row {
    TokensPerSecond, Speedup, MeanAccepted, BitsPerByte, SimTokensPerSecond, EnergyPerToken,
    Dsp, Lut, Bram, Uram, RowCount
  };
  enum Column { FigureColumn, PreviousColumn, LatestColumn, DeltaColumn, ColumnCount };

  explicit RunDeltaModel(QObject* parent = nullptr);
  // Follows `runs`: the last row against the one before it.
  void setRunList(RunListModel* runs);
  int previousRow() const;
  int latestRow() const;
  double value(Row r, int run_row) const;  // NaN: not measured / no such run

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

 private:
  void refresh();
  QPointer<RunListModel> runs_;
};

}  // namespace sm::ui
