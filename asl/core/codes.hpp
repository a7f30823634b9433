// Diagnostic codes of definition problems (Diagnostic::code). Stable: clients and tests match
// on them, so every component of asl/ reports the same kind of problem with the same code.
#pragma once

namespace stepd::asl::codes {

inline constexpr char kInvalidJson[] = "INVALID_JSON";
inline constexpr char kDuplicateKey[] = "DUPLICATE_KEY";
inline constexpr char kUnknownField[] = "UNKNOWN_FIELD";
inline constexpr char kFieldNotAllowed[] = "FIELD_NOT_ALLOWED";
inline constexpr char kMissingField[] = "MISSING_FIELD";
inline constexpr char kWrongType[] = "WRONG_TYPE";
inline constexpr char kInvalidValue[] = "INVALID_VALUE";
inline constexpr char kSchemaValidation[] = "SCHEMA_VALIDATION";
inline constexpr char kExclusiveFields[] = "EXCLUSIVE_FIELDS";
inline constexpr char kInvalidTransition[] = "INVALID_TRANSITION";
inline constexpr char kMissingTransitionTarget[] = "MISSING_TRANSITION_TARGET";
inline constexpr char kUnreachableState[] = "UNREACHABLE_STATE";
inline constexpr char kNoTerminalState[] = "NO_TERMINAL_STATE";
inline constexpr char kDuplicateStateName[] = "DUPLICATE_STATE_NAME";
inline constexpr char kInvalidStateName[] = "INVALID_STATE_NAME";
inline constexpr char kStatesAllNotAlone[] = "STATES_ALL_NOT_ALONE";
inline constexpr char kStatesAllNotLast[] = "STATES_ALL_NOT_LAST";
inline constexpr char kInvalidPath[] = "INVALID_PATH";
inline constexpr char kInvalidIntrinsic[] = "INVALID_INTRINSIC";
inline constexpr char kIntrinsicArguments[] = "INTRINSIC_ARGUMENTS";  // warning
inline constexpr char kInvalidTimestamp[] = "INVALID_TIMESTAMP";
inline constexpr char kInvalidResource[] = "INVALID_RESOURCE";
inline constexpr char kUnsupportedResource[] = "UNSUPPORTED_RESOURCE";
inline constexpr char kUnsupportedQueryLanguage[] = "UNSUPPORTED_QUERY_LANGUAGE";
inline constexpr char kInvalidChoiceRule[] = "INVALID_CHOICE_RULE";

}  // namespace stepd::asl::codes
