// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Studio's semantic colours, one place for every view. Accepted / rejected
// / bonus come from the Okabe-Ito set, which stays distinct under the common
// colour-vision deficiencies; they are paired with shape or text cues in the
// views (a bold outline, a cross, a label) so colour is never the only signal.
// Neutral colours follow the application palette, so a dark system theme
// gives dark views.
#include <QApplication>
#include <QColor>
#include <QPalette>

namespace sm::ui::colors {

inline QColor accepted() { return QColor(0x00, 0x72, 0xB2); }   // blue
inline QColor rejected() { return QColor(0xD5, 0x5E, 0x00); }   // vermillion
inline QColor bonus() { return QColor(0xE6, 0x9F, 0x00); }      // orange
inline QColor draft() { return QColor(0x56, 0xB4, 0xE9); }      // sky blue
inline QColor target() { return QColor(0x00, 0x9E, 0x73); }     // bluish green
inline QColor backtrack() { return QColor(0xCC, 0x79, 0xA7); }  // reddish purple
inline QColor highlight() { return QApplication::palette().color(QPalette::Highlight); }
inline QColor text() { return QApplication::palette().color(QPalette::WindowText); }
inline QColor base() { return QApplication::palette().color(QPalette::Base); }
inline QColor window() { return QApplication::palette().color(QPalette::Window); }
// Not examined / greyed out: midway between text and background.
inline QColor muted() { return QApplication::palette().color(QPalette::PlaceholderText); }
inline bool dark_theme() { return window().lightness() < 128; }

}  // namespace sm::ui::colors
