// snap/text.h: what printable() escapes, and that its output is always safe to print.
#include <gtest/gtest.h>

#include "snap/text.h"

namespace snap {
namespace {

TEST(Printable, PlainTextAndUtf8ReadAsThemselves) {
  EXPECT_EQ(printable("GET /users?id=42"), "GET /users?id=42");
  EXPECT_EQ(printable("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, ControlsAreEscaped) {
  EXPECT_EQ(printable("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(printable(std::string_view("nul\0del\x7f", 8)), "nul\\x00del\\x7f");
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");  // so "\x1b" in the output is never ambiguous
}

TEST(Printable, C1ControlsAndDirectionOverridesAreEscaped) {
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\u009b31m");               // U+009B, the 8-bit CSI
  EXPECT_EQ(printable("abc\xe2\x80\xae" "fed"), "abc\\u202efed");     // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(printable("\xe2\x81\xa6x\xe2\x81\xa9"), "\\u2066x\\u2069");  // isolates
  EXPECT_EQ(printable("\xef\xbb\xbfid"), "\\ufeffid");                 // zero-width no-break space
}

TEST(Printable, InvalidUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(printable("\xff"), "\\xff");
  EXPECT_EQ(printable("cut \xc3"), "cut \\xc3");                   // sequence cut short
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                  // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");         // UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable("\xe2\x82" "A"), "\\xe2\\x82A");             // bad continuation
}

TEST(Printable, OutputIsAlwaysValidUtf8WithoutControls) {
  // Every byte value, alone and after each lead byte form.
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (const std::string& s : {all, std::string("\xe2") + all, std::string("\xf0\x9f") + all}) {
    const std::string out = printable(s);
    EXPECT_TRUE(is_valid_utf8(out));
    for (unsigned char c : out) EXPECT_FALSE(c < 0x20 || c == 0x7f) << "byte " << int(c);
  }
}

TEST(IsValidUtf8, AcceptsUtf8AndRefusesTheRest) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80 \xc3\xa9"));
  EXPECT_TRUE(is_valid_utf8("\x1b"));  // valid, if not printable
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));
}

}  // namespace
}  // namespace snap
