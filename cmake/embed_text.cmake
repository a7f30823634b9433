# Turns the text file IN into a C++ source OUT defining
#   std::string_view stepd::asl::embedded_schema_text()
file(READ "${IN}" CONTENT)
set(DELIM "stepd_embed")
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN}; do not edit.\n"
  "#include <string_view>\n"
  "namespace stepd::asl {\n"
  "std::string_view embedded_schema_text() {\n"
  "  static constexpr std::string_view kText = R\"${DELIM}(${CONTENT})${DELIM}\";\n"
  "  return kText;\n"
  "}\n"
  "}  // namespace stepd::asl\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
