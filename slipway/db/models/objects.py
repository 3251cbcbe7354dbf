"""Tables for the S3 protocol (slipway.compat.s3): buckets, the objects' metadata, multipart uploads.

The bytes live in the artifact store (encrypted like every artifact) under ``s3/<bucket>/<key>``
(:func:`slipway.services.buckets.object_key`); these rows hold what S3 answers about them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class S3Bucket(Base):
    __tablename__ = "s3_buckets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)


class S3Object(Base):
    __tablename__ = "s3_objects"
    __table_args__ = (UniqueConstraint("bucket", "key", name="uq_s3_objects_bucket_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[str] = mapped_column(String(63), nullable=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    etag: Mapped[str] = mapped_column(String(64), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    modified_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)


class S3Upload(Base):
    """A multipart upload in progress; its parts are artifacts under ``s3-uploads/<upload_id>/``."""

    __tablename__ = "s3_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    bucket: Mapped[str] = mapped_column(String(63), nullable=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)


class S3UploadPart(Base):
    __tablename__ = "s3_upload_parts"
    __table_args__ = (UniqueConstraint("upload_id", "number", name="uq_s3_upload_parts_upload_id_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(64), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    etag: Mapped[str] = mapped_column(String(64), nullable=False)
