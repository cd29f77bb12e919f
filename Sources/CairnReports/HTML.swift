import CairnModels
import CairnQuality
import CairnSupport
import CairnTraining
import Foundation

/// HTML text, escaped by default: a `String` interpolated into an `HTML` literal is escaped (so
/// text from the data is never markup), an `HTML` value is inserted as it is, and numbers are
/// written as numbers. Markup is then only what the code writes in literals; nothing needs to
/// remember to escape.
///
/// ```swift
/// let row: HTML = "<tr><td>\(name)</td><td>\(count)</td></tr>"  // name escaped
/// ```
public struct HTML: ExpressibleByStringInterpolation, Sendable, Equatable {
    /// The markup.
    public private(set) var text: String

    public init(stringLiteral literal: String) { text = literal }

    public init(stringInterpolation: StringInterpolation) { text = stringInterpolation.text }

    public struct StringInterpolation: StringInterpolationProtocol {
        var text = ""

        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity + 16 * interpolationCount) }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        /// Text: escaped.
        public mutating func appendInterpolation(_ value: some StringProtocol) { text += HTML.escape(String(value)) }

        /// Markup: as it is.
        public mutating func appendInterpolation(_ value: HTML) { text += value.text }

        public mutating func appendInterpolation(_ value: some BinaryInteger) { text += String(value) }

        public mutating func appendInterpolation(_ value: Double) { text += value.isFinite ? "\(value)" : "0" }
    }

    public var isEmpty: Bool { text.isEmpty }

    public static func + (lhs: HTML, rhs: HTML) -> HTML { HTML(stringLiteral: lhs.text + rhs.text) }

    public static func += (lhs: inout HTML, rhs: HTML) { lhs.text += rhs.text }

    /// Text made safe for HTML element content and attribute values: control characters shown as
    /// the terminal shows them (`Printable.escaped`), markup characters as entities.
    public static func escape(_ text: String) -> String { Markup.entities(Printable.escaped(text)) }
}

extension Sequence where Element == HTML {
    public func joined(separator: HTML = "") -> HTML {
        var out: HTML = ""
        for (i, part) in enumerated() {
            if i > 0 { out += separator }
            out += part
        }
        return out
    }
}
