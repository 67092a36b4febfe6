// SPDX-License-Identifier: Apache-2.0
#include "ui/models/dump_diff_model.h"

#include <QFont>

#include <cmath>

namespace sm::ui {

DumpDiffModel::DumpDiffModel(QObject* parent) : QAbstractTableModel(parent) {}

void DumpDiffModel::setDiff(DumpDiff diff) {
  beginResetModel();
  diff_ = std::move(diff);
  endResetModel();
}

int DumpDiffModel::rowOf(const QString& dataset) const {
  const std::string n = dataset.toStdString();
  for (size_t i = 0; i < diff_.datasets.size(); ++i)
    if (diff_.datasets[i].name == n) return static_cast<int>(i);
  return -1;
}

int DumpDiffModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(diff_.datasets.size());
}

int DumpDiffModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant DumpDiffModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
  const DatasetDiff& d = diff_.datasets[index.row()];
  if (role == DatasetRole) return QString::fromStdString(d.name);
  if (role == Qt::FontRole && d.name == diff_.first_dataset) {
    QFont f;
    f.setBold(true);
    return f;
  }
  double v = 0;
  switch (index.column()) {
    case DatasetColumn: v = index.row(); break;
    case MaxAbsColumn: v = d.max_abs; break;
    case MaxRelColumn: v = d.max_rel; break;
    case BeyondColumn: v = double(d.beyond); break;
    case FirstColumn: v = double(d.first_position); break;
  }
  if (role == NumberRole) return v;
  if (role == Qt::TextAlignmentRole && index.column() != DatasetColumn)
    return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case DatasetColumn: return QString::fromStdString(d.name);
    case BeyondColumn: return QString::number(d.beyond);
    case FirstColumn: return d.first_position < 0 ? QStringLiteral("–") : QString::number(d.first_position);
    default: return std::isfinite(v) ? QString::number(v, 'g', 4) : QStringLiteral("NaN");
  }
}

QVariant DumpDiffModel::headerData(int section, Qt::Orientation o, int role) const {
  if (role != Qt::DisplayRole || o != Qt::Horizontal) return {};
  switch (section) {
    case DatasetColumn: return tr("Dataset");
    case MaxAbsColumn: return tr("Max |a−b|");
    case MaxRelColumn: return tr("Max rel");
    case BeyondColumn: return tr("Beyond tol");
    case FirstColumn: return tr("First pos");
    default: return {};
  }
}

}  // namespace sm::ui
