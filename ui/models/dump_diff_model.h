// SPDX-License-Identifier: Apache-2.0
#pragma once
// The per-tensor figures of a dump diff (core/dump/dump_diff.h), in run
// order: dataset, max |a - b|, max relative difference, values beyond the
// tolerance and the first position beyond it. The first differing tensor's
// row is bold.
#include "core/dump/dump_diff.h"

#include <QAbstractTableModel>

namespace sm::ui {

class DumpDiffModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { DatasetColumn, MaxAbsColumn, MaxRelColumn, BeyondColumn, FirstColumn, ColumnCount };
  static constexpr int DatasetRole = Qt::UserRole + 1;  // the full dataset name
  static constexpr int NumberRole = Qt::UserRole + 2;   // the number shown (double)

  explicit DumpDiffModel(QObject* parent = nullptr);

  void setDiff(DumpDiff diff);
  const DumpDiff& diff() const { return diff_; }
  // The row of a dataset, -1 if absent.
  int rowOf(const QString& dataset) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  DumpDiff diff_;
};

}  // namespace sm::ui
