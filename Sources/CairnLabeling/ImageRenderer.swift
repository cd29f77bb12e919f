import CChafa
import CairnImaging
import Foundation

/// Draws images as terminal text with libchafa: kitty or iTerm2 graphics where the terminal says
/// it speaks them, sixel when asked, otherwise Unicode block symbols in 24-bit, 256 or 16 colours.
public struct ImageRenderer: Sendable {
    /// How images are drawn; `auto` decides from the environment.
    public enum Mode: String, Sendable, CaseIterable {
        case auto, kitty, sixel, iterm, symbols
    }

    public let mode: Mode
    /// Colours for symbols mode: 16, 256 or 16777216.
    public let colors: Int

    /// True when `auto` has to ask the terminal (the environment alone does not decide).
    public static func needsTerminalQuery(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        let term = environment["TERM"] ?? ""
        return environment["TMUX"] == nil && !term.hasPrefix("screen") && !term.hasPrefix("tmux") && term != "xterm-kitty"
            && environment["KITTY_WINDOW_ID"] == nil && environment["TERM_PROGRAM"] != "iTerm.app" && term != "dumb"
    }

    /// Picks a mode when `requested` is auto: kitty (`TERM=xterm-kitty` or `KITTY_WINDOW_ID`),
    /// iTerm2 (`TERM_PROGRAM=iTerm.app`), sixel when the terminal's device attributes include 4,
    /// else symbols; never graphics inside tmux or screen, which do not pass them through by default.
    public init(_ requested: Mode = .auto, environment: [String: String] = ProcessInfo.processInfo.environment,
                terminalAttributes: [Int] = []) {
        let term = environment["TERM"] ?? ""
        if requested != .auto {
            mode = requested
        } else if environment["TMUX"] != nil || term.hasPrefix("screen") || term.hasPrefix("tmux") {
            mode = .symbols
        } else if term == "xterm-kitty" || environment["KITTY_WINDOW_ID"] != nil {
            mode = .kitty
        } else if environment["TERM_PROGRAM"] == "iTerm.app" {
            mode = .iterm
        } else if terminalAttributes.contains(4) {
            mode = .sixel
        } else {
            mode = .symbols
        }
        let colorterm = environment["COLORTERM"] ?? ""
        colors = colorterm == "truecolor" || colorterm == "24bit" ? 16_777_216
            : term.contains("256") || environment["TMUX"] != nil ? 256 : 16
    }

    /// Cells an image of `width`×`height` pixels fills inside `columns`×`rows`, keeping its aspect
    /// (terminal cells are about twice as tall as wide).
    public func geometry(width: Int, height: Int, columns: Int, rows: Int) -> (columns: Int, rows: Int) {
        var (c, r) = (Int32(max(1, columns)), Int32(max(1, rows)))
        chafa_calc_canvas_geometry(Int32(width), Int32(height), &c, &r, 0.5, 1, 0)
        return (Int(max(1, c)), Int(max(1, r)))
    }

    /// `image` as terminal output filling at most `columns`×`rows` cells, one string per row
    /// (graphics modes return one string holding the whole escape sequence). `cellPixels`, in
    /// graphics modes: the pixels per cell to draw at (libchafa's own guess otherwise).
    public func render(_ image: PixelBuffer, columns: Int, rows: Int, cellPixels: (width: Int, height: Int)? = nil) -> [String] {
        let rgb = image.converted(toChannels: 3)
        let (c, r) = geometry(width: rgb.width, height: rgb.height, columns: columns, rows: rows)
        let symbols = chafa_symbol_map_new()
        // Small images (thumbnails, digits) read best as big square pixels: half blocks only.
        let small = rgb.width <= 64 && rgb.height <= 64
        let tags = small ? CHAFA_SYMBOL_TAG_HALF.rawValue | CHAFA_SYMBOL_TAG_SPACE.rawValue
                         : CHAFA_SYMBOL_TAG_BLOCK.rawValue | CHAFA_SYMBOL_TAG_BORDER.rawValue | CHAFA_SYMBOL_TAG_SPACE.rawValue
        chafa_symbol_map_add_by_tags(symbols, ChafaSymbolTags(rawValue: tags))
        let config = chafa_canvas_config_new()
        chafa_canvas_config_set_geometry(config, Int32(c), Int32(r))
        if let cellPixels { chafa_canvas_config_set_cell_geometry(config, Int32(cellPixels.width), Int32(cellPixels.height)) }
        chafa_canvas_config_set_symbol_map(config, symbols)
        switch mode {
        case .kitty: chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_KITTY)
        case .sixel: chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_SIXELS)
        case .iterm: chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_ITERM2)
        case .symbols, .auto: chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_SYMBOLS)
        }
        chafa_canvas_config_set_canvas_mode(
            config, colors > 256 ? CHAFA_CANVAS_MODE_TRUECOLOR : colors == 256 ? CHAFA_CANVAS_MODE_INDEXED_256 : CHAFA_CANVAS_MODE_INDEXED_16)
        let canvas = chafa_canvas_new(config)
        rgb.pixels.withUnsafeBufferPointer { pixels in
            chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGB8, pixels.baseAddress, Int32(rgb.width), Int32(rgb.height),
                                         Int32(rgb.width * 3))
        }
        let db = chafa_term_db_get_default()
        let info = chafa_term_db_get_fallback_info(db)
        let printed = chafa_canvas_print(canvas, info)
        var text = ""
        if let printed, let raw = cairn_gstring_take(printed) {
            text = String(cString: raw)
            cairn_g_free(raw)
        }
        chafa_term_info_unref(info)
        chafa_canvas_unref(canvas)
        chafa_canvas_config_unref(config)
        chafa_symbol_map_unref(symbols)
        return mode == .symbols || mode == .auto ? text.components(separatedBy: "\n") : [text]
    }
}
