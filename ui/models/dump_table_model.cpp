// SPDX-License-Identifier: Apache-2.0
#include "ui/models/dump_table_model.h"

#include <QBrush>
#include <QColor>

#include <cmath>

namespace sm::ui {

DumpTableModel::DumpTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void DumpTableModel::setSlice(DumpRowSlice slice) {
  beginResetModel();
  slice_ = std::move(slice);
  const size_t cols = slice_.values.size();
  const bool fits = slice_.group > 0 && slice_.codes.size() == cols &&
                    slice_.exponents.size() == (cols + size_t(slice_.group) - 1) / size_t(slice_.group);
  if (!fits) {
    slice_.codes.clear();
    slice_.exponents.clear();
  }
  endResetModel();
}

double DumpTableModel::dequantized(int64_t c) const {
  if (!slice_.quantized()) return slice_.values[c];
  return std::ldexp(double(slice_.codes[c]), static_cast<int>(slice_.exponents[c / slice_.group]));
}

int DumpTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(slice_.values.size());
}

int DumpTableModel::columnCount(const QModelIndex& parent) const {
  if (parent.isValid()) return 0;
  return slice_.quantized() ? ColumnCount : ValueColumn + 1;
}

QVariant DumpTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount() || index.column() >= columnCount()) return {};
  const int64_t c = index.row();
  double v = 0;
  switch (index.column()) {
    case ChannelColumn: v = double(c); break;
    case ValueColumn: v = slice_.values[c]; break;
    case CodeColumn: v = slice_.codes[c]; break;
    case ExponentColumn: v = slice_.exponents[c / slice_.group]; break;
    case DequantColumn: v = dequantized(c); break;
    case ErrorColumn: v = dequantized(c) - double(slice_.values[c]); break;
    default: return {};
  }
  if (role == NumberRole) return v;
  if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::ForegroundRole && index.column() == CodeColumn && slice_.bits >= 2) {
    // A saturated code: the group's absmax did not fit.
    const double qmax = double((1 << (slice_.bits - 1)) - 1);
    if (std::abs(v) >= qmax) return QBrush(QColor(0xD5, 0x5E, 0x00));
    return {};
  }
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case ChannelColumn:
    case CodeColumn: return QString::number(qint64(v));
    case ExponentColumn: return QStringLiteral("2^%1").arg(qint64(v));
    default: return QString::number(v, 'g', 6);
  }
}

QVariant DumpTableModel::headerData(int section, Qt::Orientation o, int role) const {
  if (role != Qt::DisplayRole || o != Qt::Horizontal) return {};
  switch (section) {
    case ChannelColumn: return tr("Channel");
    case ValueColumn: return tr("Value");
    case CodeColumn: return tr("Code");
    case ExponentColumn: return tr("Exponent");
    case DequantColumn: return tr("Code × 2^e");
    case ErrorColumn: return tr("Error");
    default: return {};
  }
}

}  // namespace sm::ui
