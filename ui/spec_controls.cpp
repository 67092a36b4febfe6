// SPDX-License-Identifier: Apache-2.0
#include "ui/spec_controls.h"

#include <QComboBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include <algorithm>
#include <limits>

#include "ui/pair_row.h"

namespace sm::ui {

QStringList SpecControls::treePresets() {
  return {QStringLiteral("1,1,1,1"), QStringLiteral("1,1,1,1,1,1"), QStringLiteral("2,1,1"),
          QStringLiteral("2,2,1"), QStringLiteral("4,2,2,1")};
}

SpecControls::SpecControls(QWidget* parent) : QGroupBox(parent) {
  setObjectName(QStringLiteral("specControls"));
  setTitle(tr("Speculative decoding (off = target only)"));
  setCheckable(true);
  setChecked(false);
  setToolTip(tr("Tree speculative decoding: the draft model proposes a token tree, the target "
                "verifies it in one pass"));

  draft_ = new QLineEdit(this);
  draft_->setObjectName(QStringLiteral("draftPathEdit"));
  draft_->setPlaceholderText(tr("draft model directory (same vocabulary as the target)"));
  draft_->setClearButtonEnabled(true);
  open_ = new QPushButton(tr("Open…"), this);
  open_->setObjectName(QStringLiteral("openDraftButton"));
  open_->setToolTip(tr("Choose the draft model directory"));

  tree_ = new QComboBox(this);
  tree_->setObjectName(QStringLiteral("treeShapeCombo"));
  tree_->setEditable(true);
  tree_->addItems(treePresets());
  tree_->setInsertPolicy(QComboBox::NoInsert);
  tree_->setMinimumContentsLength(11);
  tree_->setToolTip(tr("Children per depth (\"4,2,2,1\"), a JSON path list "
                       "[[0],[1],[0,0]] or a .json file of paths"));

  verify_ = new QComboBox(this);
  verify_->setObjectName(QStringLiteral("verifyOrderCombo"));
  verify_->addItems({QStringLiteral("fifo"), QStringLiteral("dfs"), QStringLiteral("paths")});
  verify_->setToolTip(tr("Order in which the target verifies the tree's nodes"));

  backtrack_ = new QComboBox(this);
  backtrack_->setObjectName(QStringLiteral("backtrackCombo"));
  backtrack_->addItems({QStringLiteral("snapshot"), QStringLiteral("replay"), QStringLiteral("hybrid")});
  backtrack_->setToolTip(tr("How both models return to the last accepted node"));

  budget_ = new QSpinBox(this);
  budget_->setObjectName(QStringLiteral("budgetSpin"));
  budget_->setRange(0, std::numeric_limits<int>::max());
  budget_->setSingleStep(65536);
  budget_->setSuffix(tr(" B"));
  budget_->setGroupSeparatorShown(true);
  budget_->setToolTip(tr("Hybrid backtracking: bytes of stored node states per model and step"));

  tile_ = new QSpinBox(this);
  tile_->setObjectName(QStringLiteral("tileSpin"));
  tile_->setRange(0, 1 << 20);
  tile_->setSpecialValueText(tr("whole state"));
  tile_->setToolTip(tr("Channels (Mamba-1) / heads (Mamba-2) per verification tile; "
                       "0 = the whole state"));

  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(8, 4, 8, 4);
  grid->addWidget(new QLabel(tr("Draft:"), this), 0, 0);
  grid->addWidget(draft_, 0, 1);
  grid->addWidget(open_, 0, 2);
  // One row when it fits, else two: never a squeezed field.
  auto* row = new PairRow(3, this);
  row->addPair(tr("&Tree"), tree_);
  row->addPair(tr("&Verify"), verify_);
  row->addPair(tr("&Backtrack"), backtrack_);
  row->addPair(tr("B&udget"), budget_);
  row->addPair(tr("T&ile"), tile_);
  grid->addWidget(row, 1, 0, 1, 3);
  grid->setColumnStretch(1, 1);

  connect(open_, &QPushButton::clicked, this, &SpecControls::browseDraft);
  connect(backtrack_, &QComboBox::currentTextChanged, this, &SpecControls::updateBudgetEnabled);
  updateBudgetEnabled();
}

QString SpecControls::draftPath() const { return draft_->text().trimmed(); }
void SpecControls::setDraftPath(const QString& path) { draft_->setText(path); }
QString SpecControls::tree() const { return tree_->currentText().trimmed(); }
void SpecControls::setTree(const QString& shape) { tree_->setCurrentText(shape); }

SpecRequest SpecControls::request() const {
  SpecRequest r;
  r.enabled = speculative();
  r.draft_path = draftPath();
  r.tree = tree();
  r.verify = verify_->currentText();
  r.backtrack = backtrack_->currentText();
  r.budget = budget_->value();
  r.tile = tile_->value();
  return r;
}

void SpecControls::setRequest(const SpecRequest& r) {
  setSpeculative(r.enabled);
  setDraftPath(r.draft_path);
  setTree(r.tree);
  verify_->setCurrentText(r.verify);
  backtrack_->setCurrentText(r.backtrack);
  budget_->setValue(static_cast<int>(std::min<qint64>(r.budget, budget_->maximum())));
  tile_->setValue(r.tile);
}

void SpecControls::updateBudgetEnabled() {
  budget_->setEnabled(backtrack_->currentText() == QLatin1String("hybrid"));
}

void SpecControls::browseDraft() {
  auto* dlg = new QFileDialog(this, tr("Open draft model directory"), draftPath());
  dlg->setFileMode(QFileDialog::Directory);
  dlg->setOption(QFileDialog::ShowDirsOnly, true);
  dlg->setAttribute(Qt::WA_DeleteOnClose);
  connect(dlg, &QFileDialog::fileSelected, this, [this](const QString& dir) {
    if (!dir.isEmpty()) setDraftPath(dir);
  });
  dlg->open();
}

}  // namespace sm::ui
