// SPDX-License-Identifier: Apache-2.0
#pragma once
// One row (one token position) of a dumped tensor, a line per channel: the
// float value and, for a quantized tensor, its integer code, the group's
// power-of-two exponent, the value the kernel multiplies (code x 2^exponent)
// and the quantization error (that minus the float value).
#include <QAbstractTableModel>
#include <QString>

#include <cstdint>
#include <vector>

namespace sm::ui {

struct DumpRowSlice {
  QString dataset;           // "/layers/3/out_proj_in"
  int64_t row = -1;          // row of the dataset
  int64_t position = -1;     // its sequence position (/token_index)
  std::vector<float> values;     // [cols]
  // Quantized tensors only (empty otherwise): codes [cols], exponents [ceil(cols / group)].
  std::vector<float> codes, exponents;
  int bits = 0;
  int64_t group = 0;
  bool quantized() const { return !codes.empty(); }
};

class DumpTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { ChannelColumn, ValueColumn, CodeColumn, ExponentColumn, DequantColumn, ErrorColumn, ColumnCount };
  // The number under the text (double), for sorting proxies and tests.
  static constexpr int NumberRole = Qt::UserRole + 1;

  explicit DumpTableModel(QObject* parent = nullptr);

  // Codes that do not match the values' width, or exponents that do not
  // cover the groups, are dropped (the table then shows the values only).
  void setSlice(DumpRowSlice slice);
  void clear() { setSlice({}); }
  const DumpRowSlice& slice() const { return slice_; }

  // code x 2^exponent of channel c; the float value when not quantized.
  double dequantized(int64_t c) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  DumpRowSlice slice_;
};

}  // namespace sm::ui
