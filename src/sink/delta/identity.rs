//! What makes a value the same for a commit. Notion hands out a freshly signed URL on every
//! read of a Notion-hosted file (a new `X-Amz-Signature` and `expiry_time` each time), so the
//! signature and the expiry of a `files` value are not part of its identity: a row read again
//! whose only difference is that is unchanged, and a commit writes no new version, no change
//! feed update, nothing. [`comparable`] gives a column as the upsert compares it;
//! [`files_identity`] is the same as a SQL function, for deltalake's MERGE.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray, StructArray, new_null_array};
use arrow::datatypes::{DataType, Field};
use arrow::error::ArrowError;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Whether a column of type `t` holds files (`list<struct<name, kind, url, expiry_time>>`).
pub(crate) fn is_files(t: &DataType) -> bool {
    match t {
        DataType::List(item) => match item.data_type() {
            DataType::Struct(fields) => ["kind", "url", "expiry_time"]
                .iter()
                .all(|n| fields.iter().any(|f| f.name() == n)),
            _ => false,
        },
        _ => false,
    }
}

/// `array` as compared: a files column with each Notion-hosted file's URL cut before its
/// query string (the signature) and its `expiry_time` cleared; any other column as it is.
pub(crate) fn comparable(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    if !is_files(array.data_type()) {
        return Ok(Arc::clone(array));
    }
    let list = array.as_list::<i32>();
    let files = list.values().as_struct();
    let kinds = files
        .column_by_name("kind")
        .map(|k| arrow::compute::cast(k, &DataType::Utf8))
        .transpose()?;
    let kinds = kinds.as_ref().map(|k| k.as_string::<i32>());
    let columns: Vec<ArrayRef> = files
        .fields()
        .iter()
        .zip(files.columns())
        .map(|(field, column)| -> Result<ArrayRef, ArrowError> {
            match field.name().as_str() {
                "expiry_time" => Ok(new_null_array(column.data_type(), column.len())),
                "url" => {
                    let urls = arrow::compute::cast(column, &DataType::Utf8)?;
                    let urls = urls.as_string::<i32>();
                    let stable: StringArray = (0..urls.len())
                        .map(|i| {
                            let hosted =
                                kinds.is_some_and(|k| k.is_valid(i) && k.value(i) == "file");
                            urls.is_valid(i).then(|| {
                                let url = urls.value(i);
                                if hosted {
                                    url.split('?').next().unwrap_or(url)
                                } else {
                                    url
                                }
                            })
                        })
                        .collect();
                    arrow::compute::cast(&stable, column.data_type())
                }
                _ => Ok(Arc::clone(column)),
            }
        })
        .collect::<Result<_, _>>()?;
    let files = StructArray::try_new(files.fields().clone(), columns, files.nulls().cloned())?;
    let DataType::List(item) = array.data_type() else {
        return Ok(Arc::clone(array));
    };
    Ok(Arc::new(ListArray::try_new(
        Arc::<Field>::clone(item),
        list.offsets().clone(),
        Arc::new(files),
        list.nulls().cloned(),
    )?))
}

/// `notionlake_files_identity(files)`: [`comparable`] as a SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FilesIdentity {
    signature: Signature,
}

impl ScalarUDFImpl for FilesIdentity {
    fn name(&self) -> &str {
        "notionlake_files_identity"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = comparable(&arrays[0])?;
        Ok(
            if n == 1 && matches!(args.args[0], ColumnarValue::Scalar(_)) {
                ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(out)
            },
        )
    }
}

/// The SQL function that gives a files value's identity (see the module documentation).
pub(crate) fn files_identity() -> ScalarUDF {
    ScalarUDF::from(FilesIdentity {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::{ListBuilder, StringBuilder, StructBuilder, TimestampMicrosecondBuilder};
    use arrow::datatypes::{Fields, TimeUnit};

    use super::*;

    fn files(rows: &[&[(&str, &str, i64)]]) -> ArrayRef {
        let fields = Fields::from(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("kind", DataType::Utf8, true),
            Field::new("url", DataType::Utf8, true),
            Field::new(
                "expiry_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]);
        let mut b = ListBuilder::new(StructBuilder::from_fields(fields, 0));
        for row in rows {
            for (kind, url, expiry) in *row {
                let s = b.values();
                s.field_builder::<StringBuilder>(0)
                    .unwrap()
                    .append_value("f");
                s.field_builder::<StringBuilder>(1)
                    .unwrap()
                    .append_value(kind);
                s.field_builder::<StringBuilder>(2)
                    .unwrap()
                    .append_value(url);
                s.field_builder::<TimestampMicrosecondBuilder>(3)
                    .unwrap()
                    .append_value(*expiry);
                s.append(true);
            }
            b.append(true);
        }
        let a = b.finish();
        let item = Field::new("item", a.values().data_type().clone(), true);
        Arc::new(ListArray::new(
            Arc::new(item),
            a.offsets().clone(),
            a.values().clone(),
            None,
        ))
    }

    #[test]
    fn a_new_signature_is_the_same_file_and_another_file_is_not() {
        let read_1 = files(&[&[("file", "https://s3/acme/c.pdf?X-Amz-Signature=aa", 1)]]);
        let read_2 = files(&[&[("file", "https://s3/acme/c.pdf?X-Amz-Signature=bb", 2)]]);
        let other = files(&[&[("file", "https://s3/acme/d.pdf?X-Amz-Signature=aa", 1)]]);
        let external_1 = files(&[&[("external", "https://x.test/a?v=1", 1)]]);
        let external_2 = files(&[&[("external", "https://x.test/a?v=2", 1)]]);
        let same = |a: &ArrayRef, b: &ArrayRef| {
            comparable(a).unwrap().to_data() == comparable(b).unwrap().to_data()
        };
        assert!(is_files(read_1.data_type()));
        assert!(same(&read_1, &read_2));
        assert!(!same(&read_1, &other));
        assert!(
            !same(&external_1, &external_2),
            "an external URL is the file itself"
        );
    }
}
