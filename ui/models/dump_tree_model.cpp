// SPDX-License-Identifier: Apache-2.0
#include "ui/models/dump_tree_model.h"

#include <map>
#include <string>

namespace sm::ui {

namespace {

constexpr quintptr kTopLevel = 0;  // internalId of top-level items; children carry group + 1

// The layer of "/layers/<i>/..." or -1.
int layerOf(const std::string& name) {
  static const std::string p = "/layers/";
  if (name.compare(0, p.size(), p) != 0) return -1;
  try {
    return std::stoi(name.substr(p.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

QString shapeText(const std::vector<int64_t>& shape) {
  QStringList parts;
  for (int64_t s : shape) parts << QString::number(s);
  return QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QLatin1Char(']');
}

QString leafName(const std::string& dataset) {
  const auto slash = dataset.rfind('/');
  return QString::fromStdString(slash == std::string::npos ? dataset : dataset.substr(slash + 1));
}

DumpTreeModel::DumpTreeModel(QObject* parent) : QAbstractItemModel(parent) {}

void DumpTreeModel::setDatasets(std::vector<DumpDatasetInfo> datasets) {
  beginResetModel();
  datasets_ = std::move(datasets);
  groups_.clear();
  roots_.clear();
  // Layer groups in numeric order whatever order the datasets come in
  // (DumpReader::datasets() sorts them, a caller's list need not be);
  // tensors within a group keep the given (forward) order.
  std::map<int, std::vector<int>> members_of_layer;
  for (size_t i = 0; i < datasets_.size(); ++i) {
    const int l = layerOf(datasets_[i].name);
    if (l < 0) roots_.push_back(static_cast<int>(i));
    else members_of_layer[l].push_back(static_cast<int>(i));
  }
  for (auto& [l, members] : members_of_layer) groups_.push_back({l, std::move(members)});
  endResetModel();
}

QModelIndex DumpTreeModel::indexOf(const QString& dataset) const {
  const std::string name = dataset.toStdString();
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t m = 0; m < groups_[g].members.size(); ++m)
      if (datasets_[groups_[g].members[m]].name == name) return createIndex(int(m), 0, quintptr(g + 1));
  for (size_t r = 0; r < roots_.size(); ++r)
    if (datasets_[roots_[r]].name == name) return createIndex(int(groups_.size() + r), 0, kTopLevel);
  return {};
}

const DumpDatasetInfo* DumpTreeModel::datasetAt(const QModelIndex& index) const {
  if (!index.isValid() || index.model() != this) return nullptr;
  if (index.internalId() == kTopLevel) {
    const int r = index.row() - static_cast<int>(groups_.size());
    return r >= 0 && r < static_cast<int>(roots_.size()) ? &datasets_[roots_[r]] : nullptr;
  }
  const size_t g = index.internalId() - 1;
  if (g >= groups_.size() || index.row() < 0 || index.row() >= static_cast<int>(groups_[g].members.size()))
    return nullptr;
  return &datasets_[groups_[g].members[index.row()]];
}

QModelIndex DumpTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  if (!parent.isValid()) return createIndex(row, column, kTopLevel);
  // Only group items have children: a top-level row below groups_.size().
  return createIndex(row, column, quintptr(parent.row() + 1));
}

QModelIndex DumpTreeModel::parent(const QModelIndex& child) const {
  if (!child.isValid() || child.internalId() == kTopLevel) return {};
  return createIndex(static_cast<int>(child.internalId() - 1), 0, kTopLevel);
}

int DumpTreeModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return static_cast<int>(groups_.size() + roots_.size());
  if (parent.column() != 0 || parent.internalId() != kTopLevel) return 0;
  return parent.row() < static_cast<int>(groups_.size()) ? static_cast<int>(groups_[parent.row()].members.size())
                                                         : 0;
}

int DumpTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant DumpTreeModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  const DumpDatasetInfo* d = datasetAt(index);
  if (!d) {  // a layer group
    if (role == Qt::DisplayRole && index.column() == NameColumn)
      return tr("layer %1").arg(groups_[index.row()].layer);
    if (role == Qt::ToolTipRole) return tr("/layers/%1: %n tensors", nullptr,
                                           int(groups_[index.row()].members.size()))
                                            .arg(groups_[index.row()].layer);
    return {};
  }
  if (role == DatasetRole) return QString::fromStdString(d->name);
  if (role == Qt::ToolTipRole) return QString::fromStdString(d->name);
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case NameColumn: return index.internalId() == kTopLevel ? QString::fromStdString(d->name) : leafName(d->name);
    case ShapeColumn: return shapeText(d->shape);
    case DtypeColumn: return QString::fromStdString(d->dtype.empty() ? (d->integer ? "int" : "float32") : d->dtype);
    case BitsColumn:
      if (d->bits > 0) return tr("%1-bit / %2").arg(d->bits).arg(d->group);
      if (d->group > 0) return tr("group %1").arg(d->group);
      return QString();
    default: return {};
  }
}

QVariant DumpTreeModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case NameColumn: return tr("Dataset");
    case ShapeColumn: return tr("Shape");
    case DtypeColumn: return tr("Type");
    case BitsColumn: return tr("Bits / group");
    default: return {};
  }
}

Qt::ItemFlags DumpTreeModel::flags(const QModelIndex& index) const {
  if (!index.isValid()) return Qt::NoItemFlags;
  return Qt::ItemIsEnabled | Qt::ItemIsSelectable;
}

}  // namespace sm::ui
