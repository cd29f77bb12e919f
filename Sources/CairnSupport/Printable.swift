/// Text from the data (class, annotator and tag names, messages, paths, errors that quote them)
/// made safe to print in a terminal: control characters are shown escaped, as git does with paths,
/// so a folder named `ESC]0;…` cannot retitle a terminal or redraw a screen.
///
/// ```swift
/// Printable.escaped("cat\u{1B}]0;owned\u{07}")   // "cat\e]0;owned\a"
/// ```
///
/// JSON output needs none of this (JSON escapes control characters itself).
public enum Printable {
    /// True for a C0 control, DEL or a C1 control (the C1 CSI, U+009B, starts escape sequences too).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
    }

    /// `text` with every control character written as an escape (`\n`, `\t`, `\e`, `\a`, `\x01`,
    /// `\u{9b}`), on one line.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{1B}": out += "\\e"
            case "\u{07}": out += "\\a"
            default:
                let hex = String(scalar.value, radix: 16)
                out += scalar.value < 0x80 ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}"
            }
        }
        return out
    }

    /// Program output that may quote data: every control character escaped except the line breaks
    /// the program wrote itself.
    public static func lines(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { isControl($0) && $0 != "\n" }) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { escaped(String($0)) }.joined(separator: "\n")
    }

    /// `text` as a double-quoted string literal that JSON and TOML both read back exactly: quotes and
    /// backslashes escaped, `\n` `\r` `\t`, other controls and DEL as `\u00xx`, the rest as is.
    public static func quotedLiteral(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
