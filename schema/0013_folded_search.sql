-- The search index holds names folded by ozgsync's one folding of names (SQL function
-- `fold`, registered on every connection: lower case, ä ö ü as ae oe ue, ß as ss), so
-- `Goettingen`, `GÖTTINGEN` and `Strasse` match as people type them. Before, only ß
-- was folded. Emptying the index and its state makes the lazy refresh
-- (`store::search::refresh`) rebuild it release by release with the new folding; the
-- index is derived data, nothing else is touched.
DELETE FROM search_fts;
DELETE FROM search_docs;
UPDATE search_state SET indexed_release = 0;
