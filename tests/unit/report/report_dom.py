"""A strict little DOM of the report's HTML, built with the standard library's html.parser.

It fails on anything a browser would have to repair (an end tag that closes nothing or
skips open elements, an element left open), so a document it accepts is well formed; the
tests then query it like a browser's DOM.
"""

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element(object):
    def __init__(self, tag, attrs, parent=None):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []
        self.content = []  # text and child elements in document order

    @property
    def classes(self):
        return self.attrs.get("class", "").split()

    def text(self):
        """All text inside, in document order."""
        return "".join(item if isinstance(item, str) else item.text() for item in self.content)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag=None, css_class=None, **attrs):
        return [
            element
            for element in self.iter()
            if (tag is None or element.tag == tag)
            and (css_class is None or css_class in element.classes)
            and all(element.attrs.get(name.replace("_", "-")) == str(value) for name, value in attrs.items())
        ]

    def find(self, tag=None, css_class=None, **attrs):
        found = self.find_all(tag, css_class, **attrs)
        assert len(found) == 1, "expected one <%s class=%s %s>, found %d" % (tag, css_class, attrs, len(found))
        return found[0]

    def number(self, name):
        return float(self.attrs[name])


class StrictTreeBuilder(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def _open(self, tag, attrs):
        element = Element(tag, attrs, self.stack[-1])
        self.stack[-1].children.append(element)
        self.stack[-1].content.append(element)
        return element

    def handle_starttag(self, tag, attrs):
        element = self._open(tag, attrs)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self._open(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            raise AssertionError("end tag for void element <%s>" % tag)
        if self.stack[-1].tag != tag:
            raise AssertionError("</%s> closes <%s> (open: %s)" % (tag, self.stack[-1].tag, [e.tag for e in self.stack[1:]]))
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].content.append(data)


def parse(document):
    builder = StrictTreeBuilder()
    builder.feed(document)
    builder.close()
    assert len(builder.stack) == 1, "elements left open: %s" % [element.tag for element in builder.stack[1:]]
    assert builder.doctype and builder.doctype.lower() == "doctype html", builder.doctype
    return builder.root
