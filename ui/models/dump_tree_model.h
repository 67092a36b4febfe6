// SPDX-License-Identifier: Apache-2.0
#pragma once
// The datasets of an activation dump as a tree: one item per layer group
// ("layer 3") holding its tensors in the forward's order, then the root
// datasets (/tokens, /token_index, /logits). Columns: name, shape, dtype,
// bits/group. Built from DumpReader::datasets() (metadata only).
#include "core/dump/dump_reader.h"

#include <QAbstractItemModel>

#include <vector>

namespace sm::ui {

class DumpTreeModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, ShapeColumn, DtypeColumn, BitsColumn, ColumnCount };
  // The full dataset name ("/layers/3/conv_out") of a tensor item; empty for a layer item.
  static constexpr int DatasetRole = Qt::UserRole + 1;

  explicit DumpTreeModel(QObject* parent = nullptr);

  void setDatasets(std::vector<DumpDatasetInfo> datasets);
  void clear() { setDatasets({}); }
  const std::vector<DumpDatasetInfo>& datasets() const { return datasets_; }

  // The item of a dataset (column 0); invalid if absent.
  QModelIndex indexOf(const QString& dataset) const;
  // The dataset of a tensor item; nullptr for a layer item or an invalid index.
  const DumpDatasetInfo* datasetAt(const QModelIndex& index) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;

 private:
  struct Group {
    int layer = 0;
    std::vector<int> members;  // indices into datasets_
  };
  // A top-level row is a group (row < groups_.size()) or a root dataset.
  std::vector<DumpDatasetInfo> datasets_;
  std::vector<Group> groups_;
  std::vector<int> roots_;  // indices into datasets_
};

// "[512, 768]"
QString shapeText(const std::vector<int64_t>& shape);
// The tensor's leaf name: "conv_out" for "/layers/3/conv_out", "logits" for "/logits".
QString leafName(const std::string& dataset);

}  // namespace sm::ui
