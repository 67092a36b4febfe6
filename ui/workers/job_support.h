// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the background jobs (generation, race) share: the GUI's speculative
// settings through core's parsers, and an exception as a message.
#include <QString>

#include <exception>

#include "core/spec/spec_decoder.h"
#include "ui/generation_types.h"

namespace sm::ui {

// Throws sm::Error with core's message; a tree error always names "--tree"
// (guiMessage turns it into "Tree"), since core's "2,x: 'x' is not a width"
// says which tree but not that it is one.
SpecConfig spec_config(const SpecRequest& r);

// sm::Error's text as is; "out of memory"; "unknown error".
QString what_of(std::exception_ptr e);

}  // namespace sm::ui
