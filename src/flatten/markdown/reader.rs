//! Markdown read back as a CommonMark + GFM reader reads it (pulldown-cmark): each character
//! with the emphasis it gets. The inline renderer compares two spellings of the same rich text
//! with it, and the tests compare a rendering with its rich text.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The emphasis of a character: bold, italic, strikethrough, underline, code.
pub(crate) type Marks = [bool; 5];

/// What a reader gets from Markdown.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadBack {
    /// Each character with its marks; a hard line break is `\n`.
    pub chars: Vec<(char, Marks)>,
    /// Line breaks that came back soft (a reader joins such lines with a space).
    pub soft_breaks: usize,
    /// HTML other than the emphasis tags the renderer writes.
    pub other_html: Vec<String>,
}

/// Reads `md` as a CommonMark + GFM reader does.
pub(crate) fn read(md: &str) -> ReadBack {
    let mut out = ReadBack::default();
    let mut marks = [false; 5];
    let push = |out: &mut ReadBack, text: &str, marks: Marks| {
        out.chars.extend(text.chars().map(|c| (c, marks)));
    };
    for event in Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Strong) => marks[0] = true,
            Event::End(TagEnd::Strong) => marks[0] = false,
            Event::Start(Tag::Emphasis) => marks[1] = true,
            Event::End(TagEnd::Emphasis) => marks[1] = false,
            Event::Start(Tag::Strikethrough) => marks[2] = true,
            Event::End(TagEnd::Strikethrough) => marks[2] = false,
            Event::InlineHtml(tag) => {
                let (on, name) = match tag.strip_prefix("</") {
                    Some(rest) => (false, rest),
                    None => (true, tag.strip_prefix('<').unwrap_or(&tag)),
                };
                match name.trim_end_matches('>') {
                    "strong" => marks[0] = on,
                    "em" => marks[1] = on,
                    "del" => marks[2] = on,
                    "u" => marks[3] = on,
                    _ => out.other_html.push(tag.to_string()),
                }
            }
            Event::Text(t) => push(&mut out, &t, marks),
            Event::Code(t) => {
                let mut m = marks;
                m[4] = true;
                push(&mut out, &t, m);
            }
            Event::HardBreak => push(&mut out, "\n", marks),
            Event::SoftBreak => {
                out.soft_breaks += 1;
                push(&mut out, "\n", marks);
            }
            _ => {}
        }
    }
    out
}

/// The emphasis a reader gets from `md`, for comparing two spellings of the same text: each
/// character, with its marks unless it is whitespace (whose emphasis shows nothing).
pub(super) fn emphasis(md: &str) -> Vec<(char, Marks)> {
    read(md)
        .chars
        .into_iter()
        .map(|(c, m)| (c, if c.is_whitespace() { [false; 5] } else { m }))
        .collect()
}
