// SPDX-License-Identifier: Apache-2.0
#pragma once
// Every run of the session (live or opened from a trace) with its settings
// and summary figures. A speculative run is compared against the newest
// target-only run of the same target model and thread count (its baseline):
// the speedup column is their decode-rate ratio.
#include <QAbstractTableModel>

#include <memory>
#include <vector>

#include "ui/models/run_record.h"

namespace sm::ui {

class RunListModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    Name, Target, Draft, Tree, Verify, Tile, Backtrack, Budget, Sampling, Threads,
    Tokens, TokensPerSecond, Baseline, Speedup, TokensPerPass, MeanAccepted, Steps, Stop,
    // Tuner figures (– when the run did not measure them).
    Quantization, Device, Platform, BitsPerByte, SimTokensPerSecond, EnergyPerToken, Dsp, Lut, Bram, Uram,
    ColumnCount
  };

  explicit RunListModel(QObject* parent = nullptr);

  // Appends a run; an unnamed one becomes "Run N". Returns its row.
  int addRun(std::shared_ptr<const RunRecord> run);
  void removeRun(int row);
  void clear();
  int size() const { return static_cast<int>(runs_.size()); }

  std::shared_ptr<const RunRecord> run(int row) const;
  QString name(int row) const;
  // Decode tok/s of the baseline run (a target-only run's own rate); 0: none yet.
  double baseline(int row) const;
  double speedup(int row) const;  // 0: no baseline
  // Row of a run, -1 if it is not in the list.
  int rowOf(const RunRecord* run) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

 private:
  struct Entry {
    std::shared_ptr<const RunRecord> run;
    QString name;
  };
  std::vector<Entry> runs_;
  int next_number_ = 1;
};

}  // namespace sm::ui
