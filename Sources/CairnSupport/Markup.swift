/// Markup (HTML, XML) text and attribute values.
public enum Markup {
    /// `text` with the characters markup reserves written as entities (`&`, `<`, `>`, `"`, `'`).
    public static func entities(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
